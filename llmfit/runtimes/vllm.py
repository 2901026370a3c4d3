"""vLLM: the installed `vllm` package, and a running server at $VLLM_HOST (`/version`,
`/v1/models`: the models it serves, all in memory)."""

from __future__ import annotations

from typing import Any

from llmfit.runtimes.naming import gguf_quant
from llmfit.runtimes.values import Findings, InstalledModel, ProbeContext, RuntimeStatus
from llmfit.runtimes.wire import Unreachable, get_json, parse_host, parse_openai_models

NAME = "vllm"
DEFAULT_HOST = "127.0.0.1:8000"  # `vllm serve` default
HOST_ENV = "VLLM_HOST"
_QUANT_WORDS = ("AWQ", "GPTQ", "FP8", "NVFP4", "MXFP4", "INT8", "INT4")


def name_quant(repo: str) -> str | None:
    """AWQ, GPTQ, FP8 ... where a served repo's name says so; GGUF quant types too."""
    upper = repo.upper().replace("_", "-")
    words = [w for w in _QUANT_WORDS if f"-{w}" in upper or upper.endswith(w)]
    return words[0] if words else gguf_quant(repo)


def parse_served(body: Any) -> list[InstalledModel]:
    """`GET /v1/models`: each served model (`root` is the repo or path it was loaded from)."""
    found = []
    for entry in parse_openai_models(body):
        root: str = entry["root"] if isinstance(entry.get("root"), str) else entry["id"]
        repo = root if root.count("/") == 1 and not root.startswith((".", "/")) else None
        found.append(InstalledModel(NAME, entry["id"], quant=name_quant(root), loaded=True,
                                    repo=repo))
    return found


def probe(ctx: ProbeContext) -> Findings:
    """The package, and the server when it answers."""
    version = ctx.version_of("vllm")
    try:
        endpoint = parse_host(ctx.env.get(HOST_ENV), DEFAULT_HOST)
        served = parse_served(get_json(f"{endpoint}/v1/models", ctx.timeout_s))
    except ValueError as exc:
        return _absent(version, f"vllm: {HOST_ENV} is not usable ({exc})")
    except Unreachable as exc:
        return _absent(version, f"vllm: no server at {endpoint} ({exc})")
    try:
        version = get_json(f"{endpoint}/version", ctx.timeout_s).get("version") or version
    except (Unreachable, AttributeError):
        pass
    status = RuntimeStatus(NAME, installed=True, running=True,
                           version=version if isinstance(version, str) else None, endpoint=endpoint)
    return Findings(status, tuple(served))


def _absent(version: str | None, reason: str) -> Findings:
    if version is None:
        reason = f"vllm: not found (no vllm package, {reason.removeprefix('vllm: ')})"
    status = RuntimeStatus(NAME, installed=version is not None, version=version)
    return Findings(status, (), (reason,))
