"""Commands about one model and its sources: info, add, remove, update, bench."""

from __future__ import annotations

from typing import Any, List, Optional

import typer
from typing_extensions import Annotated

from llmfit.cli_app import (Catalog, CpuCores, ForceRuntime, Gpu, Json, KvQuant, MaxContext,
                            Memory, Parallel, Quant, Ram, app, friendly_errors, make_service,
                            merge, print_json, usage_error)

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
         kv_quant: KvQuant = None, parallel: Parallel = None, memory: Memory = None, ram: Ram = None, cpu_cores: CpuCores = None, gpu: Gpu = None,
         catalog: Catalog = None) -> None:
    """Show one model in full on this machine: every quantization's memory, fit and speed."""
    opts = merge(ctx, max_context=max_context, memory=memory, ram=ram, cpu_cores=cpu_cores,
                  gpu=gpu, catalog=catalog)
    with friendly_errors():
        from llmfit import query as q

        resolved = _resolve(opts, source, refresh)
        raw = {k: v for k, v in {"quant": quant, "force_runtime": force_runtime,
                                 "max_context": opts.get("max_context"), "kv_quant": kv_quant,
                                 "parallel": parallel}.items() if v}
        query = q.parse_query(raw, q.SEARCH)
        service = make_service(opts, catalog=[])  # one model is analysed: the catalog is not needed
        body = service.model_body(resolved.model, query, all_quants=all_quants or not json_out)
    if json_out:
        print_json(body)
        return
    from llmfit.render import render_info

    with friendly_errors():
        chosen = service.model_body(resolved.model, query)["models"][0]
    render_info(body, resolved.model, resolved.origin, chosen)


@app.command()
def add(ctx: typer.Context,
        source: Annotated[str, typer.Argument(metavar="SOURCE", help="A Hub repo id (org/name) to store in your own catalog.")],
        refresh: Refresh = False) -> None:
    """Store a Hub model in your own catalog, so every command and `serve` list it."""
    with friendly_errors():
        from llmfit.catalog import builtin_catalog_path, read_catalog_file
        from llmfit.paths import user_catalog_path
        from llmfit.resolve import resolve_source
        from llmfit.user_catalog import add_rows

        # Rows already in the user catalog are fetched again (that is how one is refreshed).
        resolved = resolve_source(source, lambda: read_catalog_file(builtin_catalog_path()), refresh)
        if resolved.origin != "hub" or resolved.row is None:
            where = "already in the catalog" if resolved.origin == "catalog" else "a local file"
            raise usage_error(f"{resolved.model.name} is {where}: `llmfit add` stores Hub repos "
                         "(use hf:org/name to add a Hub copy of a catalog model)")
        added, _ = add_rows([resolved.row])
    verb = "Added" if added else "Updated"
    typer.echo(f"{verb} {resolved.model.name} in {user_catalog_path()}")
    for note in resolved.model.source_notes:
        typer.echo(f"note: {note}")


@app.command()
def remove(name: Annotated[str, typer.Argument(metavar="NAME", help="A model added with `llmfit add` or `llmfit update`.")]) -> None:
    """Take a model out of your own catalog (the shipped catalog is never changed)."""
    with friendly_errors():
        from llmfit.paths import user_catalog_path
        from llmfit.user_catalog import remove_row

        removed = remove_row(name)
    typer.echo(f"Removed {removed} from {user_catalog_path()}")


@app.command()
def update(publisher: Annotated[Optional[List[str]], typer.Option("--publisher", metavar="ORG", help="Hub organisation to read (repeatable); default: the main open-model publishers.", show_default=False)] = None,
           per_publisher: Annotated[str, typer.Option("--limit", "-n", metavar="N", help="Most-downloaded text-generation repos to take per publisher.")] = "10",
           refresh: Refresh = False) -> None:
    """Refresh your own catalog from the Hub: the most-downloaded models of main publishers."""
    with friendly_errors():
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
    opts = merge(ctx)
    with friendly_errors():
        from llmfit import local_bench as lb
        from llmfit.catalog import load_catalog
        from llmfit.resolve import resolve_local_gguf

        binary = lb.find_llama_bench(llama_bench)
        model, name = resolve_local_gguf(source, lambda: load_catalog(opts.get("catalog")))
        record, factor = lb.bench_model(make_service(opts, catalog=[]), model, name, binary)
    if json_out:
        print_json({"record": lb.describe(record), "local_factor": factor})
        return
    typer.echo(lb.summary_line(record))
    if factor is not None:
        typer.echo(f"Estimates for the {record.device_class} class on this machine are now "
                   f"scaled by {factor:.2f}.")
