"""Read and patch one Kubernetes Node through the official client (`pip install 'llmfit[k8s]'`)."""

from __future__ import annotations

import os
from typing import Any, Callable

from llmfit.errors import LlmfitError, NotFoundError, UsageError

MERGE_PATCH = "application/merge-patch+json"
TIMEOUT_S = 10.0


class KubeError(LlmfitError):
    """The Kubernetes API refused or could not be reached."""

    exit_code = 1
    http_status = 502


def core_v1_api() -> Any:
    """A CoreV1Api with in-cluster config, else $KUBECONFIG (or ~/.kube/config)."""
    try:
        from kubernetes import client, config
    except ImportError:
        raise UsageError("the Kubernetes client is not installed: "
                         "pip install 'llmfit[k8s]'") from None
    settings = client.Configuration()  # this client's own: the library default is global
    try:
        config.load_incluster_config(client_configuration=settings)
    except config.ConfigException:
        try:
            # $KUBECONFIG read now: the library reads it once, when first imported
            path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            config.load_kube_config(config_file=path, client_configuration=settings)
        except (config.ConfigException, OSError, TypeError, ValueError) as exc:
            raise UsageError("no Kubernetes configuration: not running in a cluster, and no "
                             f"usable kubeconfig ($KUBECONFIG or ~/.kube/config): {exc}"
                             ) from None
    return client.CoreV1Api(client.ApiClient(settings))


def kube_call(what: str, rights: str, request: Callable[[], Any]) -> Any:
    """Run one API request; its failures become a KubeError saying `what` failed."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return request()
    except ApiException as exc:
        hint = f" (the account needs {rights})" if exc.status in (401, 403) else ""
        raise KubeError(f"{what}: {exc.status} {exc.reason}{hint}") from None
    except (HTTPError, OSError) as exc:
        raise KubeError(f"{what}: cannot reach the Kubernetes API: {exc}") from None


class NodeClient:
    """GET and PATCH /api/v1/nodes/{name}, with in-cluster config, else $KUBECONFIG."""

    def __init__(self) -> None:
        self._api = core_v1_api()

    def marks(self, name: str) -> tuple[dict[str, str], dict[str, str]]:
        """The node's labels and annotations."""
        node = self._call("get", name, lambda: self._api.read_node(name, _request_timeout=TIMEOUT_S))
        return dict(node.metadata.labels or {}), dict(node.metadata.annotations or {})

    def patch(self, name: str, body: dict[str, Any]) -> None:
        """Apply a JSON merge patch to the node."""
        self._call("patch", name, lambda: self._api.patch_node(
            name, body, _content_type=MERGE_PATCH, _request_timeout=TIMEOUT_S))

    def _call(self, verb: str, name: str, request: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return request()
        except ApiException as exc:
            if exc.status == 404:
                raise NotFoundError(f"node {name!r} not found (set --node or $NODE_NAME)") from None
            hint = (" (the service account needs get and patch on nodes: "
                    "deploy/manifests/10-rbac.yaml)") if exc.status in (401, 403) else ""
            raise KubeError(f"{verb} node {name!r}: {exc.status} {exc.reason}{hint}") from None
        except (HTTPError, OSError) as exc:
            raise KubeError(f"{verb} node {name!r}: cannot reach the Kubernetes API: {exc}") from None
