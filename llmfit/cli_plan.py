"""`llmfit plan MODEL`: the hardware a model needs (the POST /api/v1/plan answer)."""

from __future__ import annotations

from typing import Any, Optional

import typer
from typing_extensions import Annotated

from llmfit.cli_app import (Catalog, CpuCores, Gpu, Json, KvQuant, MaxContext, Memory, Parallel,
                            Quant, Ram, app, friendly_errors, make_service, merge, print_json)

Context = Annotated[Optional[str], typer.Option("--context", metavar="TOKENS", help="Context to plan for (default min(native, 8192)).", show_default=False)]
TargetTps = Annotated[Optional[str], typer.Option("--target-tps", metavar="TPS", help="Decode speed (tokens/s per sequence) the recommended hardware must reach.", show_default=False)]


def _body(model: str, context: str | None, quant: str | None, kv_quant: str | None,
          target_tps: str | None, parallel: str | None) -> dict[str, Any]:
    from llmfit.query import MAX_CONTEXT_TOKENS, MAX_PARALLEL, parse_int, parse_positive_float

    return {"model": model,
            "context": parse_int("--context", context, 1, MAX_CONTEXT_TOKENS) if context else None,
            "quant": quant, "kv_quant": kv_quant,
            "target_tps": parse_positive_float("--target-tps", target_tps, 100_000) if target_tps else None,
            "parallel": parse_int("--parallel", parallel, 1, MAX_PARALLEL) if parallel else None}


@app.command()
def plan(ctx: typer.Context,
         model: Annotated[str, typer.Argument(metavar="MODEL", help="A catalog model name (or a unique part of one).")],
         context: Context = None, quant: Quant = None, kv_quant: KvQuant = None,
         target_tps: TargetTps = None, parallel: Parallel = None, json_out: Json = False,
         max_context: MaxContext = None, memory: Memory = None, ram: Ram = None,
         cpu_cores: CpuCores = None, gpu: Gpu = None, catalog: Catalog = None) -> None:
    """Plan the hardware for a model: minimum and recommended per run path, upgrades, KV types."""
    opts = merge(ctx, max_context=max_context, memory=memory, ram=ram, cpu_cores=cpu_cores,
                 gpu=gpu, catalog=catalog)
    with friendly_errors():
        body = make_service(opts).plan_body(_body(model, context, quant, kv_quant, target_tps,
                                                  parallel))
    if json_out:
        print_json(body)
        return
    from llmfit.render_plan import render_plan

    render_plan(body)
