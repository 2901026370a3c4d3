"""Typer commands: parse options, ask the service, render a table or print the API's JSON."""

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

# Hardware and catalog options: accepted before the command (global) or after it.
Memory = Annotated[Optional[str], typer.Option("--memory", metavar="SIZE", help="GPU memory (VRAM) to assume, e.g. 24G.", show_default=False)]
Ram = Annotated[Optional[str], typer.Option("--ram", metavar="SIZE", help="System RAM to assume, e.g. 64G.", show_default=False)]
CpuCores = Annotated[Optional[str], typer.Option("--cpu-cores", metavar="N", help="CPU cores to assume.", show_default=False)]
Gpu = Annotated[Optional[List[str]], typer.Option("--gpu", metavar="NAME", help='Simulate a GPU from the device table: "RTX 4090", "2x RTX 3090" (repeatable).', show_default=False)]
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
ForceRuntime = Annotated[Optional[str], typer.Option("--force-runtime", metavar="RUNTIME", help="llamacpp|mlx|vllm: analyse as if this runtime were used.", show_default=False)]


@contextlib.contextmanager
def _friendly_errors() -> Iterator[None]:
    """Turn llmfit's errors into a one-line message and the error's exit code."""
    try:
        yield
    except LlmfitError as exc:
        from llmfit.render import escape_controls

        typer.echo(f"llmfit: error: {escape_controls(str(exc))}", err=True)
        raise typer.Exit(exc.exit_code) from None


def _merge(ctx: typer.Context, **local: Any) -> dict[str, Any]:
    """Options given after the command win over the same options given before it."""
    merged = dict(ctx.obj or {})
    for key, value in local.items():
        if value not in (None, [], ()):
            merged[key] = value
    return merged


def _service(opts: dict[str, Any], refresh_seconds: float | None = None, catalog: Any = None):  # -> LlmfitService
    from llmfit.query import parse_int
    from llmfit.service import LlmfitService, default_max_context

    overrides = _overrides(opts)
    max_context = opts.get("max_context")
    explicit = parse_int("max_context", max_context, 1, 10_000_000) if max_context else None
    return LlmfitService(overrides=overrides, catalog_path=opts.get("catalog"),
                         max_context=default_max_context(explicit),
                         refresh_seconds=refresh_seconds, catalog=catalog)


def _overrides(opts: dict[str, Any]):
    from llmfit.hardware.overrides import parse_size_gib
    from llmfit.query import parse_int
    from llmfit.service import HardwareOverrides

    memory, ram, cores = opts.get("memory"), opts.get("ram"), opts.get("cpu_cores")
    return HardwareOverrides(
        memory_gib=parse_size_gib(memory) if memory else None,
        ram_gib=parse_size_gib(ram) if ram else None,
        cpu_cores=parse_int("--cpu-cores", cores, 1, 4096) if cores else None,
        gpus=tuple(opts.get("gpu") or ()))


def _print_json(body: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(body, indent=2) + "\n")


@app.callback(invoke_without_command=True)
def main_options(ctx: typer.Context, memory: Memory = None, ram: Ram = None,
                 cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None,
                 max_context: MaxContext = None) -> None:
    """Which open LLMs run on this machine, at which quantization, and how fast.

    Without a command, shows `llmfit top`.
    """
    ctx.obj = {k: v for k, v in dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu,
                                     catalog=catalog, max_context=max_context).items()
               if v not in (None, [])}
    if ctx.invoked_subcommand is None:  # plain `llmfit` answers the question: `llmfit top`
        _listing(ctx, "top", False, None, {}, {})


@app.command()
def system(ctx: typer.Context, json_out: Json = False,
           measure: Annotated[bool, typer.Option("--measure", help="Measure the CPU memory bandwidth again (it is cached per machine).")] = False,
           memory: Memory = None, ram: Ram = None,
           cpu_cores: CpuCores = None, gpu: Gpu = None) -> None:
    """Show the detected hardware: RAM, CPU, GPUs, memory bandwidth, backend."""
    opts = _merge(ctx, memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu)
    with _friendly_errors():
        from llmfit.serialize import node_json, system_json
        from llmfit.service import detect_machine

        spec = _overrides(opts).apply(detect_machine(measure_refresh=measure))
        body = {"node": node_json(), "system": system_json(spec)}
    if json_out:
        _print_json(body)
        return
    from llmfit.render import render_system

    render_system(body)


def _listing(ctx: typer.Context, endpoint_name: str, json_out: bool, name: str | None,
             params: dict[str, Any], hardware: dict[str, Any]) -> None:
    """Shared body of models/top/search."""
    opts = _merge(ctx, **hardware)
    with _friendly_errors():
        from llmfit import query as q

        endpoint = {"models": q.MODELS, "top": q.TOP, "search": q.SEARCH}[endpoint_name]
        raw = {k: (str(v) if not isinstance(v, str) else v) for k, v in params.items()
               if v is not None and v is not False}
        if "max_context" not in raw and opts.get("max_context"):
            raw["max_context"] = opts["max_context"]
        query = q.parse_query(raw, endpoint, name=name)
        body = _service(opts).models_body(query)
    if json_out:
        _print_json(body)
        return
    from llmfit.render import render_models

    render_models(body, title=endpoint_name, name=name)


def _filter_params(limit, perfect, min_fit, runtime, use_case, provider, search, sort,
                   include_too_tight, max_context, quant, force_runtime) -> dict[str, Any]:
    too_tight = None if include_too_tight is None else str(include_too_tight).lower()
    return {"limit": limit, "perfect": "true" if perfect else None, "min_fit": min_fit,
            "runtime": runtime, "use_case": use_case, "provider": provider, "search": search,
            "sort": sort, "include_too_tight": too_tight, "max_context": max_context,
            "quant": quant, "force_runtime": force_runtime}


@app.command()
def models(ctx: typer.Context, json_out: Json = False, limit: Limit = None, perfect: Perfect = False,
           min_fit: MinFit = None, runtime: RuntimeOpt = None, use_case: UseCase = None,
           provider: Provider = None, search: Search = None, sort: Sort = None,
           include_too_tight: TooTight = None, max_context: MaxContext = None, quant: Quant = None,
           force_runtime: ForceRuntime = None, memory: Memory = None, ram: Ram = None,
           cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """List every catalog model with its fit, speed and score on this machine."""
    params = _filter_params(limit, perfect, min_fit, runtime, use_case, provider, search, sort,
                            include_too_tight, max_context, quant, force_runtime)
    _listing(ctx, "models", json_out, None, params,
             dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu, catalog=catalog))


@app.command()
def top(ctx: typer.Context, json_out: Json = False, limit: Limit = None, perfect: Perfect = False,
        min_fit: MinFit = None, runtime: RuntimeOpt = None, use_case: UseCase = None,
        provider: Provider = None, search: Search = None, sort: Sort = None,
        max_context: MaxContext = None, quant: Quant = None, force_runtime: ForceRuntime = None,
        memory: Memory = None, ram: Ram = None, cpu_cores: CpuCores = None, gpu: Gpu = None,
        catalog: Catalog = None) -> None:
    """Show the best runnable models for this machine (5 unless --limit)."""
    params = _filter_params(limit, perfect, min_fit, runtime, use_case, provider, search, sort,
                            None, max_context, quant, force_runtime)
    _listing(ctx, "top", json_out, None, params,
             dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu, catalog=catalog))


@app.command()
def search(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Text to find in model names, providers, sizes, use cases.")],
           json_out: Json = False, limit: Limit = None, perfect: Perfect = False,
           min_fit: MinFit = None, runtime: RuntimeOpt = None, use_case: UseCase = None,
           provider: Provider = None, sort: Sort = None, include_too_tight: TooTight = None,
           max_context: MaxContext = None, quant: Quant = None,
           force_runtime: ForceRuntime = None, memory: Memory = None, ram: Ram = None,
           cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """Find models by name (case-insensitive) and show how they fit (20 unless --limit)."""
    params = _filter_params(limit, perfect, min_fit, runtime, use_case, provider, None, sort,
                            include_too_tight, max_context, quant, force_runtime)
    _listing(ctx, "search", json_out, name, params,
             dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu, catalog=catalog))


@app.command()
def serve(ctx: typer.Context,
          host: Annotated[Optional[str], typer.Option("--host", metavar="ADDRESS", help="Address to listen on [default: 127.0.0.1].", show_default=False)] = None,
          port: Annotated[Optional[int], typer.Option("--port", metavar="PORT", help="TCP port [default: 8787].", show_default=False, min=0, max=65535)] = None,
          unix_socket: Annotated[Optional[str], typer.Option("--unix-socket", metavar="PATH", help="Listen on this unix socket (mode 0660) instead of TCP.", show_default=False)] = None,
          refresh: Annotated[float, typer.Option("--refresh", metavar="SECONDS", help="Seconds between hardware snapshots (free RAM and VRAM).", min=0.1, max=3600)] = 5.0,
          cors_origin: Annotated[Optional[List[str]], typer.Option("--cors-origin", metavar="ORIGIN", help="Let a browser page on this origin call the API, e.g. http://localhost:3000 (repeatable; none by default).", show_default=False)] = None,
          max_context: MaxContext = None, memory: Memory = None, ram: Ram = None,
          cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """Run the REST API node agent (GET /health, /api/v1/system, /api/v1/models[/top|/NAME])."""
    opts = _merge(ctx, max_context=max_context, memory=memory, ram=ram, cpu_cores=cpu_cores,
                  gpu=gpu, catalog=catalog)
    if unix_socket and (host is not None or port is not None):
        typer.echo("llmfit: error: --unix-socket cannot be combined with --host or --port", err=True)
        raise typer.Exit(2)
    with _friendly_errors():
        from llmfit.server import check_origin, run_server

        origins = tuple(check_origin(o) for o in cors_origin or ())
        service = _service(opts, refresh_seconds=refresh)
        service.snapshot()  # probe once before listening (bounded), so the first request is fast
        service.start_refresher()  # then only in the background: requests never wait for a driver
        try:
            run_server(service, host or "127.0.0.1", 8787 if port is None else port, unix_socket,
                       origins)
        except KeyboardInterrupt:
            pass


AllQuants = Annotated[bool, typer.Option("--all-quants", help="One row per quantization (with --json too).")]
Refresh = Annotated[bool, typer.Option("--refresh", help="Ask the Hub again instead of using the cached answer.")]


def _resolve(opts: dict[str, Any], source: str, refresh: bool):  # -> Resolved
    from llmfit.catalog import load_catalog
    from llmfit.resolve import resolve_source

    return resolve_source(source, lambda: load_catalog(opts.get("catalog")), refresh=refresh)


@app.command()
def info(ctx: typer.Context,
         source: Annotated[str, typer.Argument(metavar="SOURCE", help="A catalog name, a Hub repo id (org/name, or hf:org/name to force the Hub), a .gguf path, or ollama:TAG.")],
         json_out: Json = False, all_quants: AllQuants = False, quant: Quant = None,
         max_context: MaxContext = None, force_runtime: ForceRuntime = None, refresh: Refresh = False,
         memory: Memory = None, ram: Ram = None, cpu_cores: CpuCores = None, gpu: Gpu = None,
         catalog: Catalog = None) -> None:
    """Show one model in full on this machine: every quantization's memory, fit and speed."""
    opts = _merge(ctx, max_context=max_context, memory=memory, ram=ram, cpu_cores=cpu_cores,
                  gpu=gpu, catalog=catalog)
    with _friendly_errors():
        from llmfit import query as q

        resolved = _resolve(opts, source, refresh)
        raw = {k: v for k, v in {"quant": quant, "force_runtime": force_runtime,
                                 "max_context": opts.get("max_context")}.items() if v}
        query = q.parse_query(raw, q.SEARCH)
        service = _service(opts, catalog=[])  # one model is analysed: the catalog is not needed
        body = service.model_body(resolved.model, query, all_quants=all_quants or not json_out)
    if json_out:
        _print_json(body)
        return
    from llmfit.render import render_info

    with _friendly_errors():
        chosen = service.model_body(resolved.model, query)["models"][0]
    render_info(body, resolved.model, resolved.origin, chosen)


@app.command()
def add(ctx: typer.Context,
        source: Annotated[str, typer.Argument(metavar="SOURCE", help="A Hub repo id (org/name) to store in your own catalog.")],
        refresh: Refresh = False) -> None:
    """Store a Hub model in your own catalog, so every command and `serve` list it."""
    with _friendly_errors():
        from llmfit.catalog import builtin_catalog_path, read_catalog_file
        from llmfit.paths import user_catalog_path
        from llmfit.resolve import resolve_source
        from llmfit.user_catalog import add_rows

        # Rows already in the user catalog are fetched again (that is how one is refreshed).
        resolved = resolve_source(source, lambda: read_catalog_file(builtin_catalog_path()), refresh)
        if resolved.origin != "hub" or resolved.row is None:
            where = "already in the catalog" if resolved.origin == "catalog" else "a local file"
            raise _usage(f"{resolved.model.name} is {where}: `llmfit add` stores Hub repos "
                         "(use hf:org/name to add a Hub copy of a catalog model)")
        added, _ = add_rows([resolved.row])
    verb = "Added" if added else "Updated"
    typer.echo(f"{verb} {resolved.model.name} in {user_catalog_path()}")
    for note in resolved.model.source_notes:
        typer.echo(f"note: {note}")


@app.command()
def remove(name: Annotated[str, typer.Argument(metavar="NAME", help="A model added with `llmfit add` or `llmfit update`.")]) -> None:
    """Take a model out of your own catalog (the shipped catalog is never changed)."""
    with _friendly_errors():
        from llmfit.paths import user_catalog_path
        from llmfit.user_catalog import remove_row

        removed = remove_row(name)
    typer.echo(f"Removed {removed} from {user_catalog_path()}")


@app.command()
def update(publisher: Annotated[Optional[List[str]], typer.Option("--publisher", metavar="ORG", help="Hub organisation to read (repeatable); default: the main open-model publishers.", show_default=False)] = None,
           per_publisher: Annotated[str, typer.Option("--limit", "-n", metavar="N", help="Most-downloaded text-generation repos to take per publisher.")] = "10",
           refresh: Refresh = False) -> None:
    """Refresh your own catalog from the Hub: the most-downloaded models of main publishers."""
    with _friendly_errors():
        from llmfit.hub_update import DEFAULT_PUBLISHERS, run_update
        from llmfit.query import parse_int

        limit = parse_int("--limit", per_publisher, 1, 100)
        report = run_update(list(publisher or DEFAULT_PUBLISHERS), limit, refresh)
    typer.echo(report.summary())
    for line in report.problems:
        typer.echo(f"skipped: {line}", err=True)


@app.command()
def bench(ctx: typer.Context,
          source: Annotated[str, typer.Argument(metavar="MODEL", help="A .gguf path, ollama:TAG, or a catalog model pulled in Ollama.")],
          llama_bench: Annotated[Optional[str], typer.Option("--llama-bench", metavar="PATH", help="The llama-bench binary (default: llama-bench on PATH).", show_default=False)] = None,
          json_out: Json = False) -> None:
    """Measure a local GGUF with llama-bench; rows then show measured_tps and this machine's
    correction applies to the other estimates of the same device class."""
    opts = _merge(ctx)
    with _friendly_errors():
        from llmfit import local_bench as lb
        from llmfit.catalog import load_catalog
        from llmfit.resolve import resolve_local_gguf

        binary = lb.find_llama_bench(llama_bench)
        model, name = resolve_local_gguf(source, lambda: load_catalog(opts.get("catalog")))
        record, factor = lb.bench_model(_service(opts, catalog=[]), model, name, binary)
    if json_out:
        _print_json({"record": lb.describe(record), "local_factor": factor})
        return
    typer.echo(lb.summary_line(record))
    if factor is not None:
        typer.echo(f"Estimates for the {record.device_class} class on this machine are now "
                   f"scaled by {factor:.2f}.")


def _usage(message: str) -> Exception:
    from llmfit.errors import UsageError

    return UsageError(message)


@app.command()
def completion(shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print the shell completion script (also checked in under completions/)."""
    from llmfit.completions import SHELLS, render

    if shell not in SHELLS:
        typer.echo(f"llmfit: error: invalid shell: use {'|'.join(SHELLS)}", err=True)
        raise typer.Exit(2)
    sys.stdout.write(render(shell, app))


def main() -> None:
    """Console-script entry point.

    Output errors: a closed pipe (`llmfit top | head -1`) ends the process by SIGPIPE like
    other Unix tools (status 141, nothing printed); a full disk or a closed stdout is one
    message on stderr and status 1.
    """
    import signal

    # Not for `serve`: a client hanging up must never kill the server.
    if hasattr(signal, "SIGPIPE") and "serve" not in sys.argv[1:]:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if sys.stdout is None:
        sys.stderr.write("llmfit: error: standard output is closed\n")
        raise SystemExit(1)
    try:
        app()
    except OSError as exc:
        sys.stderr.write(f"llmfit: error: cannot write the output: {exc.strerror or exc}\n")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
