"""What every command module shares: the Typer app, the option types, error handling, the service."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Any, Iterator, List, Optional

import typer
from typing_extensions import Annotated

from llmfit.errors import LlmfitError

app = typer.Typer(
    name="llmfit",
    help="Which open LLMs run on this machine, at which quantization, and how fast.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Set by the console script (llmfit/entry.py) before llmfit.cli is imported: True when the
# command is a core listing, so the other command groups are not built at all.
LEAN_START = False
# Options before the command that take a value (the console script skips their values).
GLOBAL_VALUE_OPTIONS = frozenset({"--memory", "--ram", "--cpu-cores", "--gpu", "--catalog",
                                  "--max-context"})

# Hardware and catalog options: accepted before the command (global) or after it.
Memory = Annotated[Optional[str], typer.Option("--memory", metavar="SIZE", help="GPU memory (VRAM) to assume, e.g. 24G.", show_default=False)]
Ram = Annotated[Optional[str], typer.Option("--ram", metavar="SIZE", help="System RAM to assume, e.g. 64G.", show_default=False)]
CpuCores = Annotated[Optional[str], typer.Option("--cpu-cores", metavar="N", help="CPU cores to assume.", show_default=False)]
Gpu = Annotated[Optional[List[str]], typer.Option("--gpu", metavar="NAME", help='Simulate a GPU from the device table: "RTX 4090", "2x RTX 3090", "RX 7900 XTX @ vulkan" (repeatable).', show_default=False)]
Catalog = Annotated[Optional[str], typer.Option("--catalog", metavar="PATH", help="Extra catalog file whose rows add to or replace models.json (also $LLMFIT_CATALOG).", show_default=False)]
MaxContext = Annotated[Optional[str], typer.Option("--max-context", metavar="TOKENS", help="Context (tokens) for the estimates; default min(native, 8192) or $OLLAMA_CONTEXT_LENGTH.", show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON exactly as the REST API answers.")]

# Listing filters: the same names and values as the API's query parameters.
Limit = Annotated[Optional[str], typer.Option("--limit", "-n", metavar="N", help="Rows to show.", show_default=False)]
Perfect = Annotated[bool, typer.Option("--perfect", help="Only models with a perfect fit.")]
MinFit = Annotated[Optional[str], typer.Option("--min-fit", metavar="LEVEL", help="perfect|good|marginal|too_tight", show_default=False)]
RuntimeOpt = Annotated[Optional[str], typer.Option("--runtime", metavar="RUNTIME", help="any|llamacpp|mlx|vllm", show_default=False)]
UseCase = Annotated[Optional[str], typer.Option("--use-case", metavar="USE_CASE", help="general|coding|reasoning|chat|multimodal|embedding", show_default=False)]
Provider = Annotated[Optional[str], typer.Option("--provider", metavar="TEXT", help="Provider or repo owner contains this text.", show_default=False)]
Search = Annotated[Optional[str], typer.Option("--search", metavar="TEXT", help="Name, provider, size, use case or category contains this text.", show_default=False)]
Sort = Annotated[Optional[str], typer.Option("--sort", metavar="COLUMN", help="score|tps|params|mem|ctx|date|use_case", show_default=False)]
TooTight = Annotated[Optional[bool], typer.Option("--include-too-tight/--no-include-too-tight", help="Also list models that do not fit.", show_default=False)]
Quant = Annotated[Optional[str], typer.Option("--quant", metavar="QUANT", help="Pin a quantization (Q4_K_M, Q8_0, mlx-4bit, ...).", show_default=False)]
KvQuant = Annotated[Optional[str], typer.Option("--kv-quant", metavar="TYPE", help="KV-cache type the memory figures assume: fp16|fp8|q8_0|q4_0 (default fp16).", show_default=False)]
Parallel = Annotated[Optional[str], typer.Option("--parallel", metavar="N", help="Concurrent sequences, each with its own KV cache (default 1).", show_default=False)]
License = Annotated[Optional[str], typer.Option("--license", metavar="IDS", help="Only these licenses, comma-separated (apache-2.0,mit).", show_default=False)]
Capability = Annotated[Optional[str], typer.Option("--capability", metavar="IDS", help="Only models with all of these: tool_use,vision,reasoning,embedding,code,audio.", show_default=False)]
Installed = Annotated[bool, typer.Option("--installed", help="Only models a local runtime has (asks Ollama, llama.cpp, LM Studio, MLX, vLLM, Docker Model Runner).")]
ForceRuntime = Annotated[Optional[str], typer.Option("--force-runtime", metavar="RUNTIME", help="llamacpp|mlx|vllm: analyse as if this runtime were used.", show_default=False)]


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn llmfit's errors into a one-line message and the error's exit code."""
    try:
        yield
    except LlmfitError as exc:
        from llmfit.render import escape_controls

        typer.echo(f"llmfit: error: {escape_controls(str(exc))}", err=True)
        raise typer.Exit(exc.exit_code) from None


def merge(ctx: typer.Context, **local: Any) -> dict[str, Any]:
    """Options given after the command win over the same options given before it."""
    merged = dict(ctx.obj or {})
    for key, value in local.items():
        if value not in (None, [], ()):
            merged[key] = value
    return merged


def make_service(opts: dict[str, Any], refresh_seconds: float | None = None, catalog: Any = None,
                 runtimes: bool = False):  # -> LlmfitService
    from llmfit.query import parse_int
    from llmfit.service import LlmfitService, default_max_context

    hw = overrides(opts)
    max_context = opts.get("max_context")
    explicit = parse_int("max_context", max_context, 1, 10_000_000) if max_context else None
    return LlmfitService(overrides=hw, catalog_path=opts.get("catalog"),
                         max_context=default_max_context(explicit),
                         refresh_seconds=refresh_seconds, catalog=catalog,
                         probe_runtimes=runtimes)


def overrides(opts: dict[str, Any]):
    from llmfit.hardware.overrides import parse_size_gib
    from llmfit.query import parse_int
    from llmfit.service import HardwareOverrides

    memory, ram, cores = opts.get("memory"), opts.get("ram"), opts.get("cpu_cores")
    return HardwareOverrides(
        memory_gib=parse_size_gib(memory) if memory else None,
        ram_gib=parse_size_gib(ram) if ram else None,
        cpu_cores=parse_int("--cpu-cores", cores, 1, 4096) if cores else None,
        gpus=tuple(opts.get("gpu") or ()))


def print_json(body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(body, indent=2) + "\n")


def usage_error(message: str) -> Exception:
    from llmfit.errors import UsageError

    return UsageError(message)
