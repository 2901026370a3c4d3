"""A small Kubernetes API on loopback: GET and PATCH /api/v1/nodes/{name}, answered in the shapes
a real API server records (Node objects, Status errors), with every request kept for asserts."""

from __future__ import annotations

import copy
import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs
from typing import Any

from loopback import LoopbackServer

TOKEN = "test-token"


def recorded_node(name: str) -> dict[str, Any]:
    """A Node as `kubectl get node NAME -o json` shows one of a kubeadm cluster (trimmed)."""
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": {
            "name": name, "uid": "5f8a7c62-2f0b-4a49-9d5e-1c2b3a4d5e6f",
            "resourceVersion": "1024", "creationTimestamp": "2025-01-15T09:30:00Z",
            "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                       "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
                       "kubernetes.io/os": "linux"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
        "spec": {"podCIDR": "10.244.1.0/24", "podCIDRs": ["10.244.1.0/24"]},
        "status": {
            "capacity": {"cpu": "4", "memory": "32781420Ki", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "32679020Ki", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": "2025-01-15T10:00:00Z",
                            "lastTransitionTime": "2025-01-15T09:31:00Z"}],
            "addresses": [{"type": "InternalIP", "address": "192.0.2.10"},
                          {"type": "Hostname", "address": name}],
            "nodeInfo": {"machineID": "0" * 32, "systemUUID": "0" * 32, "bootID": "0" * 32,
                         "kernelVersion": "6.1.0-18-amd64", "osImage": "Debian GNU/Linux 12",
                         "containerRuntimeVersion": "containerd://1.7.13",
                         "kubeletVersion": "v1.30.2", "kubeProxyVersion": "v1.30.2",
                         "operatingSystem": "linux", "architecture": "amd64"}}}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what the API server applies for merge-patch+json)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def recorded_pod(name: str, node: str, ip: str | None, port: int,
                 namespace: str = "llmfit", phase: str = "Running") -> dict[str, Any]:
    """A DaemonSet's Pod as `kubectl get pod NAME -o json` shows one (trimmed)."""
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}",
                     "resourceVersion": "2000", "creationTimestamp": "2025-01-15T09:40:00Z",
                     "labels": {"app.kubernetes.io/name": "llmfit",
                                "controller-revision-hash": "6d4f8b9c7",
                                "pod-template-generation": "1"}},
        "spec": {"nodeName": node, "serviceAccountName": "llmfit", "containers": [
            {"name": "llmfit", "image": "llmfit:0.1.0", "args": ["serve"],
             "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}]},
            {"name": "label-node", "image": "llmfit:0.1.0", "args": ["label-node"]}]},
        "status": {"phase": phase, "hostIP": "192.0.2.10", "startTime": "2025-01-15T09:40:01Z",
                   **({"podIP": ip, "podIPs": [{"ip": ip}]} if ip else {})},
    }


class KubeHandler(BaseHTTPRequestHandler):
    server_version = "fake-kube-apiserver/1"

    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        api: FakeKube = self.server.api  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        api.requests.append({"method": method, "path": self.path,
                             "content_type": self.headers.get("Content-Type"),
                             "authorization": self.headers.get("Authorization"),
                             "body": json.loads(raw) if raw else None})
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._send(401, _status(401, "Unauthorized", "Unauthorized"))
        path, _, query = self.path.partition("?")
        parts = path.split("/")
        if method == "GET" and len(parts) == 6 and parts[1:4] == ["api", "v1", "namespaces"] \
                and parts[5] == "pods":
            return self._send(200, api.pod_list(parts[4], parse_qs(query)))
        prefix = "/api/v1/nodes/"
        name = path[len(prefix):] if path.startswith(prefix) else None
        if not name or "/" in name:
            return self._send(404, _status(404, "NotFound", "the server could not find the "
                                                            "requested resource"))
        if name not in api.nodes:
            return self._send(404, _status(404, "NotFound", f'nodes "{name}" not found'))
        if api.forbid_patch and method == "PATCH":
            return self._send(403, _status(403, "Forbidden", f'nodes "{name}" is forbidden'))
        if method == "PATCH":
            if self.headers.get("Content-Type") != "application/merge-patch+json":
                return self._send(415, _status(415, "UnsupportedMediaType", "unsupported type"))
            node = merge_patch(api.nodes[name], json.loads(raw))
            node["metadata"]["resourceVersion"] = str(int(node["metadata"]["resourceVersion"]) + 1)
            api.nodes[name] = node
        self._send(200, api.nodes[name])

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PATCH(self) -> None:
        self._handle("PATCH")


class FakeKube:
    """`with FakeKube(tmp_path, "node-a") as kube:`; $KUBECONFIG = kube.kubeconfig points at it."""

    def __init__(self, tmp_path: Path, *node_names: str) -> None:
        self.nodes = {n: recorded_node(n) for n in node_names}
        self.requests: list[dict[str, Any]] = []
        self.forbid_patch = False
        self.pods: list[dict[str, Any]] = []  # served by GET /api/v1/namespaces/{ns}/pods
        self.kubeconfig = tmp_path / "kubeconfig"

    def __enter__(self) -> "FakeKube":
        self._serving = LoopbackServer(KubeHandler, api=self).__enter__()
        self.server = self._serving.server
        port = self._serving.port
        self.kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
            "users": [{"name": "tester", "user": {"token": TOKEN}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester"}}]}))
        return self

    def __exit__(self, *exc: object) -> None:
        self._serving.__exit__(*exc)

    def pod_list(self, namespace: str, query: dict[str, list[str]]) -> dict[str, Any]:
        """A PodList of `self.pods` in `namespace` whose labels match labelSelector (k=v,...)."""
        wanted = dict(term.split("=", 1) for sel in query.get("labelSelector", [])
                      for term in sel.split(","))
        items = [p for p in self.pods if p["metadata"]["namespace"] == namespace
                 and wanted.items() <= p["metadata"]["labels"].items()]
        return {"kind": "PodList", "apiVersion": "v1",
                "metadata": {"resourceVersion": "2048"}, "items": items}

    def patches(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "PATCH"]

    def marks(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        meta = copy.deepcopy(self.nodes[name]["metadata"])
        return meta.get("labels", {}), meta.get("annotations", {})
