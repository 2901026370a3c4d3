"""`llmfit fleet top|where|capacity`: one question to every node agent at once, merged answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Optional

import typer
from typing_extensions import Annotated

from llmfit.cli_app import (Capability, KvQuant, License, Limit, MaxContext, MinFit,
                            Parallel, Provider, Quant, RuntimeOpt, Search, UseCase, app,
                            friendly_errors, merge, print_json, usage_error)

fleet_app = typer.Typer(
    help="Ask every llmfit agent (`llmfit serve`) of a fleet at once and merge the answers.",
    no_args_is_help=True, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(fleet_app, name="fleet")

Nodes = Annotated[Optional[List[str]], typer.Option("--nodes", metavar="URLS", help="Agent base URLs, comma-separated (repeatable).", show_default=False)]
NodesFile = Annotated[Optional[str], typer.Option("--nodes-file", metavar="PATH", help="File of agent URLs, one a line (# comments; - for stdin).", show_default=False)]
K8s = Annotated[bool, typer.Option("--k8s", help="Find the agents: running pods of the DaemonSet, through the Kubernetes API.")]
Namespace = Annotated[Optional[str], typer.Option("--namespace", metavar="NAME", help="Namespace of the agent pods with --k8s [default: llmfit].", show_default=False)]
Selector = Annotated[Optional[str], typer.Option("--selector", metavar="LABELS", help="Label selector of the agent pods with --k8s [default: app.kubernetes.io/name=llmfit].", show_default=False)]
Port = Annotated[Optional[int], typer.Option("--port", metavar="PORT", help="Agent port with --k8s [default: the pod's port named http, else 8787].", min=1, max=65535, show_default=False)]
Timeout = Annotated[Optional[float], typer.Option("--timeout", metavar="SECONDS", help="Per-node deadline; a node that misses it is listed as down [default: 2].", min=0.01, max=300, show_default=False)]
Json = Annotated[bool, typer.Option("--json", help="Print the merged answer as JSON (shapes in docs/api.md).")]
ModelArg = Annotated[str, typer.Argument(metavar="MODEL", help="Repo id or name (Llama-3.1-8B-Instruct).", show_default=False)]
MAX_FILE_BYTES = 1024 * 1024


def _merge_nodes(ctx: typer.Context, nodes: Optional[List[str]], nodes_file: Optional[str],
                 k8s: bool, namespace: Optional[str], selector: Optional[str],
                 port: Optional[int], timeout: Optional[float]) -> dict[str, Any]:
    return merge(ctx, nodes=nodes, nodes_file=nodes_file, k8s=k8s or None, namespace=namespace,
                 selector=selector, port=port, timeout=timeout)


@fleet_app.callback()
def fleet_options(ctx: typer.Context, nodes: Nodes = None, nodes_file: NodesFile = None,
                  k8s: K8s = False, namespace: Namespace = None, selector: Selector = None,
                  port: Port = None, timeout: Timeout = None) -> None:
    """Ask every llmfit agent (`llmfit serve`) of a fleet at once and merge the answers.

    Nodes come from --nodes, --nodes-file and --k8s (given here or after the command). Nodes
    that refuse, time out or answer off-contract are listed as down; the others still count.
    Exit status 1 when no node answered.
    """
    ctx.obj = _merge_nodes(ctx, nodes, nodes_file, k8s, namespace, selector, port, timeout)


def _file_lines(path: str) -> list[str]:
    import sys

    try:
        if path == "-":
            text = sys.stdin.read(MAX_FILE_BYTES + 1)
        else:
            with Path(path).open(encoding="utf-8") as handle:
                text = handle.read(MAX_FILE_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(f"cannot read --nodes-file {path!r}: "
                          f"{getattr(exc, 'strerror', None) or exc}") from None
    if len(text) > MAX_FILE_BYTES:
        raise usage_error(f"--nodes-file {path!r} is larger than 1 MiB")
    return text.splitlines()


def _targets(opts: dict[str, Any]) -> tuple[str, ...]:
    from llmfit.fleet import parse_node_urls
    from llmfit.fleet_poll import DEFAULT_NAMESPACE, DEFAULT_SELECTOR, discover_pods

    items = list(opts.get("nodes") or [])
    if opts.get("nodes_file"):
        items += _file_lines(opts["nodes_file"])
    if opts.get("k8s"):
        items += discover_pods(opts.get("namespace") or DEFAULT_NAMESPACE,
                               opts.get("selector") or DEFAULT_SELECTOR, opts.get("port"))
    return parse_node_urls(items)


def _run(opts: dict[str, Any], path: str, params: dict[str, str], reader: Any,
         merge_answers: Callable[[list[Any]], dict[str, Any]], as_json: bool,
         render: Callable[[dict[str, Any]], None]) -> None:
    """Poll, merge, print; exit 1 when no node answered (the answer is printed all the same)."""
    from llmfit.fleet import DEFAULT_TIMEOUT_S
    from llmfit.fleet_poll import poll

    with friendly_errors():
        urls = _targets(opts)
        answers = poll(urls, path, params, reader, opts.get("timeout") or DEFAULT_TIMEOUT_S)
        body = merge_answers(answers)
    if as_json:
        print_json(body)
    else:
        render(body)
    if not any(a.up for a in answers):
        raise typer.Exit(1)


def _filters(**raw: Optional[str]) -> dict[str, str]:
    return {key: value for key, value in raw.items() if value is not None}


@fleet_app.command("top")
def fleet_top(ctx: typer.Context, limit: Limit = None, min_fit: MinFit = None,
              use_case: UseCase = None, runtime: RuntimeOpt = None, provider: Provider = None,
              search: Search = None, capability: Capability = None, license: License = None,
              max_context: MaxContext = None, kv_quant: KvQuant = None,
              parallel: Parallel = None, as_json: Json = False, nodes: Nodes = None,
              nodes_file: NodesFile = None, k8s: K8s = False, namespace: Namespace = None,
              selector: Selector = None, port: Port = None, timeout: Timeout = None) -> None:
    """Best (model, node) placements across the fleet.

    Each node is asked for its --limit best rows (default 10, --min-fit default good); the
    merged rows are ranked by score, then tokens/s.
    """
    from llmfit import fleet
    from llmfit.query import TOP, parse_int, parse_query
    from llmfit.render_fleet import render_fleet_top

    opts = _merge_nodes(ctx, nodes, nodes_file, k8s, namespace, selector, port, timeout)
    with friendly_errors():
        rows = parse_int("--limit", limit, 1, 1000) if limit is not None else 10
        params = _filters(limit=str(rows), min_fit=min_fit or "good", use_case=use_case,
                          runtime=runtime, provider=provider, search=search,
                          capability=capability, license=license, max_context=max_context,
                          kv_quant=kv_quant, parallel=parallel)
        parse_query(params, TOP)  # a bad value is the user's mistake: say so before polling
    _run(opts, "/api/v1/models/top", params, fleet.read_listing,
         lambda answers: fleet.fleet_top(answers, rows), as_json, render_fleet_top)


@fleet_app.command("where")
def fleet_where(ctx: typer.Context, model: ModelArg, max_context: MaxContext = None,
                kv_quant: KvQuant = None, parallel: Parallel = None, quant: Quant = None,
                as_json: Json = False, nodes: Nodes = None, nodes_file: NodesFile = None,
                k8s: K8s = False, namespace: Namespace = None, selector: Selector = None,
                port: Port = None, timeout: Timeout = None) -> None:
    """Nodes that run MODEL, fastest first (too tight ones last)."""
    from urllib.parse import quote

    from llmfit import fleet
    from llmfit.query import SEARCH, parse_query
    from llmfit.render_fleet import render_fleet_where

    opts = _merge_nodes(ctx, nodes, nodes_file, k8s, namespace, selector, port, timeout)
    with friendly_errors():
        params = _filters(limit=str(fleet.WHERE_ROWS), include_too_tight="true",
                          max_context=max_context, kv_quant=kv_quant, parallel=parallel,
                          quant=quant)
        name = parse_query(params, SEARCH, name=model).name
        if not name:
            raise usage_error("MODEL is empty: give a repo id or name")
    _run(opts, f"/api/v1/models/{quote(name, safe='/')}", params, fleet.read_listing,
         lambda answers: fleet.fleet_where(answers, name), as_json, render_fleet_where)


@fleet_app.command("capacity")
def fleet_capacity(ctx: typer.Context, as_json: Json = False, nodes: Nodes = None,
                   nodes_file: NodesFile = None, k8s: K8s = False,
                   namespace: Namespace = None, selector: Selector = None, port: Port = None,
                   timeout: Timeout = None) -> None:
    """Totals over the nodes that answered: cores, RAM, GPUs by name and memory."""
    from llmfit import fleet
    from llmfit.render_fleet import render_fleet_capacity

    opts = _merge_nodes(ctx, nodes, nodes_file, k8s, namespace, selector, port, timeout)
    _run(opts, "/api/v1/system", {}, fleet.read_system, fleet.fleet_capacity, as_json,
         render_fleet_capacity)
