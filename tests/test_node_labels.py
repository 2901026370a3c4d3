"""`llmfit label-node`: the pure label rules, and exact patches sent to a Kubernetes API on loopback."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import cpu_box, dual_3090_box, m2_max_box, rtx4090_box
from kube_server import TOKEN, FakeKube

from llmfit.errors import UsageError
from llmfit.node_labels import (NodeMarks, check_prefix, gpu_memory_class, label_value,
                                node_patch, size_class, top_models_json)
from llmfit.values import GpuDevice, SystemSpec

P = "llmfit.io/"
CPU_32G_LABELS = {P + "max-good-size-class": "32b", P + "max-good-params-b": "46",
                  P + "gpu-memory-class": "none", P + "gpu-memory-gib": "0",
                  P + "gpu-count": "0", P + "backend": "cpu-x86"}


# --- pure rules ------------------------------------------------------------------------------

@pytest.mark.parametrize(("params_b", "expected"), [
    (0.1, "none"), (0.5, "0.5b"), (1.1, "1b"), (3.8, "3b"), (6.74, "8b"), (7.6, "8b"),
    (14.8, "14b"), (24.0, "14b"), (30.5, "32b"), (46.7, "32b"), (70.6, "70b"), (123.0, "120b"),
    (671.0, "671b"), (1000.0, "671b")])
def test_size_classes(params_b, expected):
    assert size_class(params_b) == expected


def _one_gpu(vram_gib: float) -> SystemSpec:
    return SystemSpec(16, 16, 4, "x", gpus=(GpuDevice("Some GPU", vram_gib, vram_gib, "CUDA"),))


def test_gpu_memory_classes():
    assert [gpu_memory_class(s) for s in (cpu_box(), rtx4090_box(), dual_3090_box(),
                                           m2_max_box())] == ["none", "24gb", "48gb", "32gb"]
    assert gpu_memory_class(_one_gpu(22.35)) == "24gb"  # 24 GB as sold, 22.35 GiB as reported
    assert gpu_memory_class(_one_gpu(5.8)) == "6gb"
    assert gpu_memory_class(_one_gpu(2.0)) == "lt4gb"


def test_label_values_and_prefixes():
    assert [label_value(t) for t in ("CUDA", "CPU (x86)", "CPU (ARM)", "  ", "x" * 80)] == [
        "cuda", "cpu-x86", "cpu-arm", "none", "x" * 63]
    assert check_prefix("fit.example.com/") == "fit.example.com/"
    for bad in ("llmfit.io", "LLMFIT.io/", "-x.io/", "a..b/", "/", "llmfit.io//"):
        with pytest.raises(UsageError, match="--prefix"):
            check_prefix(bad)


def test_patch_holds_only_the_keys_that_differ():
    desired = NodeMarks({"a/x": "1", "a/y": "2"}, {"a/top": "[]"})
    assert node_patch({"a/x": "1", "a/y": "2", "other": "k"}, {"a/top": "[]"}, desired) is None
    assert node_patch({"a/x": "1", "a/y": "3"}, {"a/top": "[]"}, desired) == {
        "metadata": {"labels": {"a/y": "2"}}}
    assert node_patch(None, None, desired) == {
        "metadata": {"labels": {"a/x": "1", "a/y": "2"}, "annotations": {"a/top": "[]"}}}


# --- the command against a Kubernetes API on loopback -------------------------------------------

@pytest.fixture
def kube(tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)  # never the in-cluster config
    with FakeKube(tmp_path, "node-a", "node-b") as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig))
        yield api


@pytest.fixture
def run(cli, monkeypatch):
    """Invoke the CLI on a 4-core 32 GiB CPU machine; `machine(spec)` swaps the hardware."""
    invoke = cli()

    def machine(spec: SystemSpec) -> None:
        monkeypatch.setattr("llmfit.service.detect_machine", lambda **_: spec)

    invoke.machine = machine  # type: ignore[attr-defined]
    return invoke


def top_annotation(run, *args: str) -> str:
    rows = json.loads(run("top", "--json", "--limit", "5", *args).output)["models"]
    return top_models_json(rows)


def test_first_run_patches_every_key_and_the_second_sends_none(kube, run):
    result = run("label-node")  # NODE_NAME=node-a from the cli fixture
    assert result.exit_code == 0, result.output
    assert [(r["method"], r["path"]) for r in kube.requests] == [
        ("GET", "/api/v1/nodes/node-a"), ("PATCH", "/api/v1/nodes/node-a")]
    patch = kube.patches()[0]
    assert patch["content_type"] == "application/merge-patch+json"
    assert patch["authorization"] == f"Bearer {TOKEN}"
    assert patch["body"] == {"metadata": {"labels": CPU_32G_LABELS, "annotations": {
        P + "top-models": top_annotation(run),
        P + "max-good-model": "mistralai/Mixtral-8x7B-Instruct-v0.1"}}}
    labels, _ = kube.marks("node-a")
    assert labels["kubernetes.io/hostname"] == "node-a"  # the node's own labels are kept
    assert "set llmfit.io/backend" in result.output

    kube.requests.clear()
    again = run("label-node")
    assert again.exit_code == 0 and "up to date" in again.output
    assert [r["method"] for r in kube.requests] == ["GET"]


def test_a_hardware_change_patches_only_the_changed_keys(kube, run):
    assert run("label-node").exit_code == 0
    kube.requests.clear()
    run.machine(cpu_box(cores=4, ram=64, available=60))  # more RAM; still no GPU
    assert run("label-node").exit_code == 0
    body = kube.patches()[0]["body"]
    assert body["metadata"]["labels"] == {P + "max-good-size-class": "120b",
                                          P + "max-good-params-b": "112"}
    assert body["metadata"]["annotations"][P + "max-good-model"] == "CohereLabs/command-a-vision-07-2025"

    kube.requests.clear()
    run.machine(rtx4090_box())
    assert run("label-node").exit_code == 0
    assert kube.patches()[0]["body"]["metadata"]["labels"] == {
        P + "max-good-params-b": "141", P + "gpu-memory-class": "24gb",
        P + "gpu-memory-gib": "24", P + "gpu-count": "1", P + "backend": "cuda"}


def test_options_node_prefix_and_dry_run(kube, run):
    result = run("label-node", "--node", "node-b", "--prefix", "fit.example.com/", "--dry-run")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["node"] == "node-b"
    assert body["patch"]["metadata"]["labels"] == {
        k.replace(P, "fit.example.com/"): v for k, v in CPU_32G_LABELS.items()}
    assert kube.patches() == []  # a dry run only reads


def test_the_interval_loop_labels_again_after_a_change(kube, run, monkeypatch):
    naps: list[float] = []

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            run.machine(rtx4090_box())
        if len(naps) == 3:
            raise KeyboardInterrupt  # as a SIGTERM from the kubelet would

    monkeypatch.setattr("llmfit.cli_fleet.time.sleep", sleep)
    result = run("label-node", "--interval", "30")
    assert result.exit_code == 0, result.output
    assert naps == [30.0, 30.0, 30.0]
    assert [r["method"] for r in kube.requests] == ["GET", "PATCH", "GET", "GET", "PATCH"]
    assert kube.patches()[1]["body"]["metadata"]["labels"][P + "backend"] == "cuda"


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--node", ""), 2, "no node name"),
    (("--node", "Node_A"), 2, "invalid node name"),
    (("--prefix", "llmfit"), 2, "invalid --prefix value"),
    (("--interval", "-1"), 2, "--interval"),
    (("--node", "node-z"), 1, "node 'node-z' not found"),
])
def test_bad_input_is_a_message_and_an_exit_code(kube, run, monkeypatch, args, code, message):
    if args[:2] == ("--node", ""):
        monkeypatch.delenv("NODE_NAME")
    result = run("label-node", *args)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_forbidden_names_the_rbac_it_needs(kube, run):
    kube.forbid_patch = True
    result = run("label-node")
    assert result.exit_code == 1
    assert "403" in result.output and "get and patch on nodes" in result.output


def test_no_cluster_configuration(run, tmp_path, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    result = run("label-node")
    assert result.exit_code == 2 and "no Kubernetes configuration" in result.output


def test_unreachable_api_is_an_error_not_a_traceback(kube, run, monkeypatch):
    kube.__exit__()
    config = json.loads(kube.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "http://127.0.0.1:9"  # discard: nobody listens
    kube.kubeconfig.write_text(json.dumps(config))
    monkeypatch.setattr("llmfit.kube_nodes.TIMEOUT_S", 2.0)
    result = run("label-node")
    assert result.exit_code == 1 and "cannot reach the Kubernetes API" in result.output


def test_missing_client_says_what_to_install(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # import kubernetes → ImportError
    result = run("label-node")
    assert result.exit_code == 2
    assert "pip install 'llmfit[k8s]'" in result.output
