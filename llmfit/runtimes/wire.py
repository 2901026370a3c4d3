"""HTTP for the probes: a runtime's address from its environment variable, GET JSON with a short
timeout and no proxy, and the OpenAI-style model list most runtimes serve."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

MAX_BODY_BYTES = 8 * 2**20  # a model list is kilobytes; anything larger is not a runtime


class Unreachable(Exception):
    """Nothing answered at the address, or not with JSON."""


def parse_host(raw: str | None, default: str) -> str:
    """A base URL from a runtime's host variable, the way the runtimes read it: `host`,
    `host:port`, `:port`, `http(s)://host[:port][/path]`; `default` is `host:port`.
    Raises ValueError for what cannot be an address."""
    text = (raw or "").strip() or default
    default_host, _, default_port = default.rpartition(":")
    scheme = "http"
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
    host_port, _, path = text.partition("/")
    try:
        parts = urlsplit(f"//{host_port}")
        host, port = parts.hostname or default_host, parts.port
    except ValueError as exc:
        raise ValueError(f"not an address: {raw!r}") from exc
    if port is None:
        port = 443 if scheme == "https" else int(default_port)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}" + (f"/{path.rstrip('/')}" if path.strip("/") else "")


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: never a proxy


def get_json(url: str, timeout_s: float) -> Any:
    """The decoded JSON body of GET `url`; Unreachable on any failure (refused, timeout, HTTP
    error, not JSON)."""
    try:
        with _OPENER.open(urllib.request.Request(url, headers={"Accept": "application/json"}),
                          timeout=timeout_s) as response:
            body = response.read(MAX_BODY_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise Unreachable(_reason(exc)) from None
    if len(body) > MAX_BODY_BYTES:
        raise Unreachable("answer too large")
    try:
        return json.loads(body)
    except ValueError:
        raise Unreachable("answer is not JSON") from None


def _reason(exc: Exception) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    reason = getattr(exc, "reason", exc)
    text = getattr(reason, "strerror", None) or str(reason)
    return "no answer in time" if "timed out" in text else text


def as_dict(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (answers are untrusted)."""
    return value if isinstance(value, dict) else {}


def parse_openai_models(body: Any) -> list[dict[str, Any]]:
    """The entries of an OpenAI `GET /v1/models` answer (`{"data": [{"id": ...}, ...]}`) that
    have a string id."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return []
    return [m for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
