"""I/O of the fleet view: ask every agent at once (async httpx), and find agents through Kubernetes.

httpx is imported here only, and this module only by `llmfit fleet`, so no other command pays
for it.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any, Mapping, Sequence

from llmfit.errors import UsageError
from llmfit.fleet import MAX_CONCURRENCY, MAX_NODES, NodeAnswer, Reader, short_error

MAX_BODY_BYTES = 16 * 1024 * 1024  # a listing of the whole catalog is ~2 MB
DEFAULT_SELECTOR = "app.kubernetes.io/name=llmfit"
DEFAULT_NAMESPACE = "llmfit"
DEFAULT_PORT = 8787


def poll(urls: Sequence[str], path: str, params: Mapping[str, str], reader: Reader,
         timeout_s: float, concurrency: int = MAX_CONCURRENCY) -> list[NodeAnswer]:
    """GET `path` from every agent concurrently; one answer per URL, in the order given."""
    return asyncio.run(_poll_all(urls, path, params, reader, timeout_s, concurrency))


async def _poll_all(urls: Sequence[str], path: str, params: Mapping[str, str], reader: Reader,
                    timeout_s: float, concurrency: int) -> list[NodeAnswer]:
    import httpx

    from llmfit import __version__

    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Accept": "application/json", "User-Agent": f"llmfit-fleet/{__version__}"}
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits, headers=headers) as client:
        return list(await asyncio.gather(*(
            _ask(client, gate, url, path, params, reader, timeout_s) for url in urls)))


async def _ask(client: Any, gate: asyncio.Semaphore, url: str, path: str,
               params: Mapping[str, str], reader: Reader, timeout_s: float) -> NodeAnswer:
    import httpx

    async with gate:  # the deadline starts when the request does, not while it waits its turn
        try:
            status, body = await asyncio.wait_for(_get(client, url + path, params), timeout_s)
        except asyncio.TimeoutError:
            return NodeAnswer(url, error=f"no answer within {timeout_s:g} s")
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: IDNA host
            return NodeAnswer(url, error=_transport_error(exc))
    return _read(url, status, body, reader)


async def _get(client: Any, url: str, params: Mapping[str, str]) -> tuple[int, bytes | None]:
    async with client.stream("GET", url, params=params) as response:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return response.status_code, None
            chunks.append(chunk)
        return response.status_code, b"".join(chunks)


def _transport_error(exc: Exception) -> str:
    cause: BaseException | None = exc
    while cause is not None:  # the OS's words ("Connection refused") are the useful part
        if isinstance(cause, OSError) and cause.errno:
            words = cause.strerror if cause.errno < 0 else os.strerror(cause.errno)
            return f"cannot connect: {(words or str(cause)).lower()}"
        cause = cause.__cause__ or cause.__context__
    return short_error(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _read(url: str, status: int, raw: bytes | None, reader: Reader) -> NodeAnswer:
    if raw is None:
        return NodeAnswer(url, error=f"HTTP {status}: the answer is larger than "
                                     f"{MAX_BODY_BYTES // 2**20} MiB")
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return NodeAnswer(url, error=f"HTTP {status}: the answer is not JSON (an llmfit agent?)")
    if status != 200:
        detail = body.get("error") if isinstance(body, dict) else None
        return NodeAnswer(url, error=short_error(f"HTTP {status}: {detail or 'no error text'}"))
    try:
        name, value = reader(body)
    except ValueError as exc:
        return NodeAnswer(url, error=short_error(f"unexpected answer: {exc}"))
    return NodeAnswer(url, name=name, value=value)


# --- discovery through the Kubernetes API ----------------------------------------------------

def discover_pods(namespace: str, selector: str, port: int | None) -> tuple[str, ...]:
    """Base URLs of the running agent pods (pod IP, the container port named `http` unless
    `port` is given): reachable from inside the cluster, e.g. `kubectl exec` into one pod."""
    from llmfit.kube_nodes import core_v1_api, kube_call

    api = core_v1_api()
    rights = f"list on pods in namespace {namespace!r}: deploy/manifests/10-rbac.yaml"
    pods = kube_call(f"list pods in namespace {namespace!r}", rights,
                     lambda: api.list_namespaced_pod(namespace, label_selector=selector,
                                                     _request_timeout=10.0))
    urls = sorted({_pod_url(pod, port) for pod in pods.items if _running(pod)})
    if not urls:
        raise UsageError(f"no running pods match {selector!r} in namespace {namespace!r}")
    return tuple(urls[:MAX_NODES])


def _running(pod: Any) -> bool:
    return bool(pod.status and pod.status.phase == "Running" and pod.status.pod_ip)


def _pod_url(pod: Any, port: int | None) -> str:
    if port is None:
        ports = [p for c in pod.spec.containers for p in (c.ports or []) if p.name == "http"]
        port = ports[0].container_port if ports else DEFAULT_PORT
    ip = pod.status.pod_ip
    return f"http://[{ip}]:{port}" if ":" in ip else f"http://{ip}:{port}"
