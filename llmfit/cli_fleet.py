"""Commands for running llmfit across a Kubernetes cluster: `llmfit label-node`."""

from __future__ import annotations

import os
import re
import sys
import time
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from llmfit.cli_app import (Catalog, CpuCores, Gpu, MaxContext, Memory, Ram, app,
                            friendly_errors, make_service, merge, print_json, usage_error)

_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")

NodeOpt = Annotated[Optional[str], typer.Option("--node", metavar="NAME", help="The Node to label [default: $NODE_NAME].", show_default=False)]
PrefixOpt = Annotated[str, typer.Option("--prefix", metavar="PREFIX", help="Label and annotation key prefix.")]
IntervalOpt = Annotated[float, typer.Option("--interval", metavar="SECONDS", help="Label again every SECONDS (0: once).", min=0, max=86400)]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the patch instead of sending it.")]
TopOpt = Annotated[int, typer.Option("--top", metavar="N", help="Models in the top-models annotation.", min=1, max=20)]


def _node_name(node: str | None) -> str:
    name = node or os.environ.get("NODE_NAME") or ""
    if not name:
        raise usage_error("no node name: give --node NAME or set $NODE_NAME")
    if not _NODE_NAME.match(name):
        raise usage_error(f"invalid node name {name!r}: use a lower-case DNS name")
    return name


def _desired(service: Any, prefix: str, top: int) -> Any:
    from llmfit.node_labels import desired_marks
    from llmfit.query import MODELS, TOP, parse_query

    system, _, _, results = service.listing(parse_query({}, MODELS))
    rows = service.models_body(parse_query({"limit": str(top)}, TOP))["models"]
    return desired_marks(system, results, rows, prefix)


def _label_once(service: Any, nodes: Any, name: str, prefix: str, top: int, dry_run: bool) -> None:
    from llmfit.node_labels import node_patch

    labels, annotations = nodes.marks(name)
    patch = node_patch(labels, annotations, _desired(service, prefix, top))
    if dry_run:
        print_json({"node": name, "patch": patch})
    elif patch is None:
        typer.echo(f"llmfit label-node: {name}: up to date")
    else:
        nodes.patch(name, patch)
        changed = sorted(k for part in patch["metadata"].values() for k in part)
        typer.echo(f"llmfit label-node: {name}: set {', '.join(changed)}")


@app.command("label-node")
def label_node(ctx: typer.Context, node: NodeOpt = None,
               prefix: PrefixOpt = "llmfit.io/", interval: IntervalOpt = 0.0,
               dry_run: DryRunOpt = False, top: TopOpt = 5, max_context: MaxContext = None,
               memory: Memory = None, ram: Ram = None, cpu_cores: CpuCores = None,
               gpu: Gpu = None, catalog: Catalog = None) -> None:
    """Label this Kubernetes node with what it runs well (only changed keys are written)."""
    opts = merge(ctx, max_context=max_context, memory=memory, ram=ram, cpu_cores=cpu_cores,
                 gpu=gpu, catalog=catalog)
    with friendly_errors():
        from llmfit.kube_nodes import NodeClient
        from llmfit.node_labels import check_prefix

        name, prefix = _node_name(node), check_prefix(prefix)
        service = make_service(opts)
        nodes = NodeClient()
        _label_once(service, nodes, name, prefix, top, dry_run)
    if interval:
        _loop(service, nodes, name, prefix, top, dry_run, interval)


def _loop(service: Any, nodes: Any, name: str, prefix: str, top: int, dry_run: bool,
          interval: float) -> None:
    """Label every `interval` seconds until stopped; an API error is reported, then retried."""
    import signal

    from llmfit.errors import LlmfitError
    from llmfit.render import escape_controls

    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # pod deleted: exit 0
    try:
        while True:
            time.sleep(interval)
            try:
                service.refresh()
                _label_once(service, nodes, name, prefix, top, dry_run)
            except LlmfitError as exc:
                sys.stderr.write(f"llmfit: error: {escape_controls(str(exc))}\n")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
