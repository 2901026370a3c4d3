"""Docker Model Runner: its OpenAI-compatible endpoint on the host ($MODEL_RUNNER_HOST, default
127.0.0.1:12434 once TCP access is enabled): `/engines/v1/models` lists the pulled models."""

from __future__ import annotations

from typing import Any

from llmfit.runtimes.naming import gguf_quant
from llmfit.runtimes.ollama import hf_repo
from llmfit.runtimes.values import Findings, InstalledModel, ProbeContext, RuntimeStatus
from llmfit.runtimes.wire import Unreachable, get_json, parse_host, parse_openai_models

NAME = "docker_model_runner"
DEFAULT_HOST = "127.0.0.1:12434"  # `docker desktop enable model-runner --tcp` default
HOST_ENV = "MODEL_RUNNER_HOST"  # what the `docker model` CLI reads


def parse_models(body: Any) -> list[InstalledModel]:
    """Pulled models (`ai/qwen3:8B-Q4_K_M`, `hf.co/org/repo:Q4_K_M`), quant from the tag."""
    return [InstalledModel(NAME, e["id"], quant=gguf_quant(e["id"].partition(":")[2]),
                           repo=hf_repo(e["id"]))
            for e in parse_openai_models(body)]


def probe(ctx: ProbeContext) -> Findings:
    """The runner's endpoint (the `docker` program alone does not say the runner is enabled)."""
    try:
        endpoint = parse_host(ctx.env.get(HOST_ENV), DEFAULT_HOST)
        models = parse_models(get_json(f"{endpoint}/engines/v1/models", ctx.timeout_s))
    except ValueError as exc:
        return _absent(f"{HOST_ENV} is not usable ({exc})")
    except Unreachable as exc:
        return _absent(f"no Model Runner at {endpoint} ({exc})")
    status = RuntimeStatus(NAME, installed=True, running=True, endpoint=endpoint)
    return Findings(status, tuple(models))


def _absent(reason: str) -> Findings:
    return Findings(RuntimeStatus(NAME), (), (f"docker_model_runner: not found ({reason})",))
