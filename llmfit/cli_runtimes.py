"""Commands about local runtimes: runtimes, installed."""

from __future__ import annotations

import typer

from llmfit.cli_app import Catalog, Json, app, friendly_errors, make_service, merge, print_json


@app.command()
def runtimes(ctx: typer.Context, json_out: Json = False) -> None:
    """Show which local runtimes (Ollama, llama.cpp, LM Studio, MLX, vLLM, Docker Model Runner)
    are installed and running."""
    with friendly_errors():
        body = make_service(merge(ctx)).runtimes_body()
    if json_out:
        print_json(body)
        return
    from llmfit.render_runtimes import render_runtimes

    render_runtimes(body)


@app.command()
def installed(ctx: typer.Context, json_out: Json = False, catalog: Catalog = None) -> None:
    """List the models local runtimes already have, with their quant, size and catalog name."""
    with friendly_errors():
        body = make_service(merge(ctx, catalog=catalog)).installed_body()
    if json_out:
        print_json(body)
        return
    from llmfit.render_runtimes import render_installed

    render_installed(body)
