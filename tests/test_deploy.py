"""deploy/: every manifest (and the rendered Helm chart) validates against the Kubernetes API
schemas offline, and its probes, ports, args and env match what llmfit really serves."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from conftest import cpu_box

from llmfit.fleet_poll import DEFAULT_NAMESPACE, DEFAULT_SELECTOR
from llmfit.server import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "deploy" / "manifests"
CHART = REPO / "deploy" / "helm" / "llmfit"
# The oldest Kubernetes release still commonly run, and the newest the schemas know.
K8S_VERSIONS = ("1.28.0", kubernetes_validate.latest_version() + ".0")
HELM = shutil.which("helm")
needs_helm = pytest.mark.skipif(HELM is None, reason="the `helm` binary is not on PATH (no "
                                "Debian package ships it): the chart is rendered only where "
                                "helm is installed")


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def plain_objects() -> list[dict[str, Any]]:
    return [d for f in sorted(MANIFESTS.glob("*.yaml")) for d in documents(f)]


def rendered_chart() -> list[dict[str, Any]]:
    assert HELM is not None
    out = subprocess.run([HELM, "template", "llmfit", str(CHART), "--namespace", "llmfit"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def find(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, (kind, [o["kind"] for o in objects])
    return found[0]


def validate(obj: dict[str, Any]) -> None:
    for version in K8S_VERSIONS:
        kubernetes_validate.validate(obj, version, strict=True)


# --- schemas ---------------------------------------------------------------------------------

def test_every_manifest_validates_against_the_api_schemas():
    objects = plain_objects()
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole", "ClusterRoleBinding", "DaemonSet", "Namespace", "Role", "RoleBinding",
        "Service", "ServiceAccount"]
    assert objects[0]["kind"] == "Namespace"  # `kubectl apply -f deploy/manifests/` goes in file order
    for obj in objects:
        validate(obj)


@pytest.mark.parametrize("breakage", ["port-as-text", "unknown-field", "no-selector",
                                      "probe-without-handler-port"])
def test_a_broken_manifest_is_rejected(breakage):
    daemonset = find(plain_objects(), "DaemonSet")
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    if breakage == "port-as-text":
        container["ports"][0]["containerPort"] = "eighty"
    elif breakage == "unknown-field":
        daemonset["spec"]["replicas"] = 3  # a Deployment's field: DaemonSets have none
    elif breakage == "no-selector":
        del daemonset["spec"]["selector"]
    else:
        del container["livenessProbe"]["httpGet"]["port"]
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(daemonset)


# --- what the pods run matches what llmfit serves ------------------------------------------

def _pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "DaemonSet")["spec"]["template"]["spec"]


def _container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in _pod(objects)["containers"] if c["name"] == name)


def check_pod(objects: list[dict[str, Any]], cli, monkeypatch, service_for) -> None:
    """The checks both the plain manifests and the rendered chart must pass."""
    pod, ds = _pod(objects), find(objects, "DaemonSet")
    server, labeler = _container(objects, "llmfit"), _container(objects, "label-node")
    # Identity and RBAC: the labeler's service account holds get+patch on nodes and nothing more.
    account = find(objects, "ServiceAccount")["metadata"]
    assert pod["serviceAccountName"] == account["name"]
    assert find(objects, "ClusterRole")["rules"] == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]
    binding = find(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == find(objects, "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                    "namespace": account["namespace"]}]
    # `llmfit fleet --k8s` in a pod: list pods of its own namespace, nothing more.
    role, role_binding = find(objects, "Role"), find(objects, "RoleBinding")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]
    assert role["metadata"]["namespace"] == account["namespace"]
    assert role_binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                       "name": role["metadata"]["name"]}
    assert role_binding["subjects"] == binding["subjects"]
    key, _, value = DEFAULT_SELECTOR.partition("=")
    assert ds["spec"]["template"]["metadata"]["labels"][key] == value
    assert ds["metadata"]["namespace"] == DEFAULT_NAMESPACE
    assert server["ports"][0]["name"] == "http"  # the port `fleet --k8s` reads
    # Every node, no GPU taken: no nvidia.com/gpu request, tolerates every taint.
    assert {"operator": "Exists"} in pod["tolerations"]
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    for container in (server, labeler):
        env = {e["name"]: e for e in container["env"]}
        assert env["NODE_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
        assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "all"
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert {"cpu", "memory"} <= set(limits) and {"cpu", "memory"} <= set(requests)
        assert not any("gpu" in k for k in (*limits, *requests))
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["runAsNonRoot"] is True
        assert security["runAsUser"] > 0 and security["allowPrivilegeEscalation"] is False
        # LLMFIT_HOME (user catalog, caches) is a writable emptyDir, the root fs being read-only.
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        home_volume = next(v for v in pod["volumes"] if v["name"] == mounts[env["LLMFIT_HOME"]["value"]])
        assert home_volume["emptyDir"] == {}
    # The args are a valid `llmfit serve` command listening where the port and probes point.
    seen: dict[str, Any] = {}
    monkeypatch.setattr("llmfit.server.run_server",
                        lambda service, host, port, *rest: seen.update(host=host, port=port))
    monkeypatch.setattr("llmfit.service.LlmfitService.start_refresher", lambda self: None)
    result = cli()(*server["args"])
    assert result.exit_code == 0, result.output
    port = next(p for p in server["ports"] if p["name"] == "http")
    assert seen == {"host": "0.0.0.0", "port": port["containerPort"]} and seen["port"] == 8787
    app = TestClient(create_app(service_for(cpu_box())))
    for probe in (server["livenessProbe"], server["readinessProbe"]):
        assert probe["httpGet"]["port"] in ("http", port["containerPort"])
        assert app.get(probe["httpGet"]["path"]).status_code == 200
    assert app.get(ds["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]).status_code == 200
    # The Service reaches that port on these pods.
    service = find(objects, "Service")["spec"]
    assert service["selector"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    assert service["ports"][0]["targetPort"] in ("http", port["containerPort"])
    # The labeler's args parse (--help after them: parsed, nothing run).
    assert labeler["args"][0] == "label-node"
    assert cli()(*labeler["args"], "--help").exit_code == 0


def test_manifests_match_what_the_server_serves(cli, monkeypatch, service_for):
    check_pod(plain_objects(), cli, monkeypatch, service_for)


@needs_helm
def test_the_chart_renders_valid_objects_that_match_the_server(cli, monkeypatch, service_for):
    objects = rendered_chart()
    for obj in objects:
        validate(obj)
    assert sorted(o["kind"] for o in objects) == [
        "ClusterRole", "ClusterRoleBinding", "DaemonSet", "Role", "RoleBinding", "Service",
        "ServiceAccount"]
    check_pod(objects, cli, monkeypatch, service_for)
    lint = subprocess.run([HELM, "lint", str(CHART)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_chart_values_default_to_the_plain_manifests():
    """What can be checked without helm: the chart's defaults are the manifests' values."""
    chart, values = yaml.safe_load((CHART / "Chart.yaml").read_text()), yaml.safe_load(
        (CHART / "values.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "llmfit"
    server = _container(plain_objects(), "llmfit")
    labeler = _container(plain_objects(), "label-node")
    assert f"{values['image']['repository']}:{values['image']['tag']}" == server["image"]
    assert values["port"] == server["ports"][0]["containerPort"]
    assert values["resources"] == server["resources"]
    assert values["labeler"]["resources"] == labeler["resources"]
    assert str(values["labeler"]["intervalSeconds"]) == labeler["args"][2]
    assert values["runAsUser"] == server["securityContext"]["runAsUser"]
    assert chart["appVersion"] == server["image"].rsplit(":", 1)[1]


def test_dockerfile_runs_serve_as_a_non_root_user_with_a_writable_home():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    user = re.search(r"^USER (\d+)", text, re.M)
    assert user and int(user.group(1)) == _container(plain_objects(), "llmfit")["securityContext"]["runAsUser"]
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8787"]' in text
    assert re.search(r"LLMFIT_HOME=/var/lib/llmfit\b", text)
    env = {e["name"]: e.get("value") for e in _container(plain_objects(), "llmfit")["env"]}
    assert env["LLMFIT_HOME"] == "/var/lib/llmfit"
    assert 'pip install ".[k8s]"' in text  # label-node needs the Kubernetes client
