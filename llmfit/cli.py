"""Typer commands: parse options, ask the service, render a table or print the API's JSON."""

from __future__ import annotations

import sys
from typing import Any, List, Optional

import typer
from typing_extensions import Annotated

from llmfit.cli_app import (Capability, Catalog, CpuCores, ForceRuntime, Gpu, Installed, Json,
                            KvQuant, License, Limit, MaxContext, Memory, MinFit, Parallel, Perfect,
                            Provider, Quant, Ram, RuntimeOpt, Search, Sort, TooTight, UseCase,
                            app, friendly_errors, make_service, merge, overrides, print_json)
from llmfit.cli_app import LEAN_START


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
    opts = merge(ctx, memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu)
    with friendly_errors():
        from llmfit.serialize import node_json, system_json
        from llmfit.service import detect_machine

        spec = overrides(opts).apply(detect_machine(measure_refresh=measure))
        body = {"node": node_json(), "system": system_json(spec)}
    if json_out:
        print_json(body)
        return
    from llmfit.render import render_system

    render_system(body)


def _listing(ctx: typer.Context, endpoint_name: str, json_out: bool, name: str | None,
             params: dict[str, Any], hardware: dict[str, Any]) -> None:
    """Shared body of models/top/search."""
    opts = merge(ctx, **hardware)
    with friendly_errors():
        from llmfit import query as q

        endpoint = {"models": q.MODELS, "top": q.TOP, "search": q.SEARCH}[endpoint_name]
        raw = {k: (str(v) if not isinstance(v, str) else v) for k, v in params.items()
               if v is not None and v is not False}
        if "max_context" not in raw and opts.get("max_context"):
            raw["max_context"] = opts["max_context"]
        query = q.parse_query(raw, endpoint, name=name)
        body = make_service(opts, runtimes=bool(query.installed)).models_body(query)
    if json_out:
        print_json(body)
        return
    from llmfit.render import render_models

    render_models(body, title=endpoint_name, name=name)


def _filter_params(limit, perfect, min_fit, runtime, use_case, provider, search, sort,
                   include_too_tight, max_context, quant, force_runtime,
                   extra: dict[str, Any]) -> dict[str, Any]:
    too_tight = None if include_too_tight is None else str(include_too_tight).lower()
    return {"limit": limit, "perfect": "true" if perfect else None, "min_fit": min_fit,
            "runtime": runtime, "use_case": use_case, "provider": provider, "search": search,
            "sort": sort, "include_too_tight": too_tight, "max_context": max_context,
            "quant": quant, "force_runtime": force_runtime, **extra}


@app.command()
def models(ctx: typer.Context, json_out: Json = False, limit: Limit = None, perfect: Perfect = False,
           min_fit: MinFit = None, runtime: RuntimeOpt = None, use_case: UseCase = None,
           provider: Provider = None, search: Search = None, sort: Sort = None,
           include_too_tight: TooTight = None, max_context: MaxContext = None, quant: Quant = None,
           force_runtime: ForceRuntime = None, kv_quant: KvQuant = None, parallel: Parallel = None,
           license: License = None, capability: Capability = None, installed: Installed = False,
           memory: Memory = None, ram: Ram = None,
           cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """List every catalog model with its fit, speed and score on this machine."""
    params = _filter_params(limit, perfect, min_fit, runtime, use_case, provider, search, sort,
                            include_too_tight, max_context, quant, force_runtime,
                            dict(kv_quant=kv_quant, parallel=parallel, license=license,
                                 capability=capability, installed="true" if installed else None))
    _listing(ctx, "models", json_out, None, params,
             dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu, catalog=catalog))


@app.command()
def top(ctx: typer.Context, json_out: Json = False, limit: Limit = None, perfect: Perfect = False,
        min_fit: MinFit = None, runtime: RuntimeOpt = None, use_case: UseCase = None,
        provider: Provider = None, search: Search = None, sort: Sort = None,
        max_context: MaxContext = None, quant: Quant = None, force_runtime: ForceRuntime = None,
        kv_quant: KvQuant = None, parallel: Parallel = None, license: License = None,
        capability: Capability = None, installed: Installed = False, memory: Memory = None, ram: Ram = None, cpu_cores: CpuCores = None, gpu: Gpu = None,
        catalog: Catalog = None) -> None:
    """Show the best runnable models for this machine (5 unless --limit)."""
    params = _filter_params(limit, perfect, min_fit, runtime, use_case, provider, search, sort,
                            None, max_context, quant, force_runtime,
                            dict(kv_quant=kv_quant, parallel=parallel, license=license,
                                 capability=capability, installed="true" if installed else None))
    _listing(ctx, "top", json_out, None, params,
             dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu, catalog=catalog))


@app.command()
def search(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Text to find in model names, providers, sizes, use cases.")],
           json_out: Json = False, limit: Limit = None, perfect: Perfect = False,
           min_fit: MinFit = None, runtime: RuntimeOpt = None, use_case: UseCase = None,
           provider: Provider = None, sort: Sort = None, include_too_tight: TooTight = None,
           max_context: MaxContext = None, quant: Quant = None,
           force_runtime: ForceRuntime = None, kv_quant: KvQuant = None, parallel: Parallel = None,
           license: License = None, capability: Capability = None, installed: Installed = False,
           memory: Memory = None, ram: Ram = None,
           cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """Find models by name (case-insensitive) and show how they fit (20 unless --limit)."""
    params = _filter_params(limit, perfect, min_fit, runtime, use_case, provider, None, sort,
                            include_too_tight, max_context, quant, force_runtime,
                            dict(kv_quant=kv_quant, parallel=parallel, license=license,
                                 capability=capability, installed="true" if installed else None))
    _listing(ctx, "search", json_out, name, params,
             dict(memory=memory, ram=ram, cpu_cores=cpu_cores, gpu=gpu, catalog=catalog))


@app.command()
def serve(ctx: typer.Context,
          host: Annotated[Optional[str], typer.Option("--host", metavar="ADDRESS", help="Address to listen on [default: 127.0.0.1].", show_default=False)] = None,
          port: Annotated[Optional[int], typer.Option("--port", metavar="PORT", help="TCP port [default: 8787].", show_default=False, min=0, max=65535)] = None,
          unix_socket: Annotated[Optional[str], typer.Option("--unix-socket", metavar="PATH", help="Listen on this unix socket (mode 0660) instead of TCP.", show_default=False)] = None,
          refresh: Annotated[float, typer.Option("--refresh", metavar="SECONDS", help="Seconds between hardware snapshots (free RAM and VRAM).", min=0.1, max=3600)] = 5.0,
          cors_origin: Annotated[Optional[List[str]], typer.Option("--cors-origin", metavar="ORIGIN", help="Let a browser page on this origin call the API, e.g. http://localhost:3000 (repeatable; none by default).", show_default=False)] = None,
          metrics_top: Annotated[int, typer.Option("--metrics-top", metavar="N", help="Models whose speed and memory GET /metrics exports (0 to 100).", min=0, max=100)] = 20,
          max_context: MaxContext = None, memory: Memory = None, ram: Ram = None,
          cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """Run the REST API node agent (GET /health, /api/v1/system, /api/v1/models[/top|/NAME])."""
    opts = merge(ctx, max_context=max_context, memory=memory, ram=ram, cpu_cores=cpu_cores,
                  gpu=gpu, catalog=catalog)
    if unix_socket and (host is not None or port is not None):
        typer.echo("llmfit: error: --unix-socket cannot be combined with --host or --port", err=True)
        raise typer.Exit(2)
    with friendly_errors():
        from llmfit.server import check_origin, run_server

        origins = tuple(check_origin(o) for o in cors_origin or ())
        service = make_service(opts, refresh_seconds=refresh, runtimes=True)
        service.snapshot()  # probe once before listening (bounded), so the first request is fast
        service.start_refresher()  # then only in the background: requests never wait for a driver
        try:
            run_server(service, host or "127.0.0.1", 8787 if port is None else port, unix_socket,
                       origins, metrics_top)
        except KeyboardInterrupt:
            pass


# Command modules register on `app` when imported; their order is the order of --help. The
# console script (llmfit/entry.py) leaves them out for the core listings, which never need them.
if not LEAN_START:
    import llmfit.cli_models  # noqa: E402,F401
    import llmfit.cli_fleet  # noqa: E402,F401
    import llmfit.cli_fleet_view  # noqa: E402,F401
    import llmfit.cli_plan  # noqa: E402,F401
    import llmfit.cli_runtimes  # noqa: E402,F401


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
