"""Rich tables of `llmfit fleet`. They render the same objects `--json` prints."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from llmfit.render import FIT_STYLES, _console, _gb, _short_name, _tps, escape_controls

_FIGURES = ("Quant", "GiB", "tok/s", "Score")
_RIGHT = ("GiB", "tok/s", "Score", "Count", "Cores", "RAM GiB", "GPUs", "GPU GiB")


def _table(width: int, headers: tuple[str, ...], rows: list[list[Any]], names: int) -> Table:
    """The first `names` columns (names from other machines) give way on a narrow screen,
    cut with an ellipsis; figure columns keep their full width."""
    widest = [max([len(h), *(len(str(row[i])) for row in rows)]) for i, h in enumerate(headers)]
    room = width - sum(widest[names:]) - 3 * len(headers) + 1
    for left, i in enumerate(sorted(range(names), key=lambda i: widest[i])):
        widest[i] = min(widest[i], max(room // (names - left), 8))  # short ones first, rest shared
        room -= widest[i]
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for i, header in enumerate(headers):
        table.add_column(header, no_wrap=True, overflow="ellipsis", width=widest[i],
                         justify="right" if header in _RIGHT else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _fit(row: dict[str, Any]) -> Text:
    return Text(row["fit_label"], style=FIT_STYLES.get(row["fit_level"], ""))


def _figures(row: dict[str, Any]) -> list[Any]:
    return [Text(row["best_quant"] or "-"), _gb(row["memory_required_gb"]),
            _tps(row["estimated_tps"]), f"{row['score']:.0f}"]


def _node(row: dict[str, Any]) -> Text:
    return Text(row["node"] or row["url"])


def _nodes_footer(console: Console, nodes: list[dict[str, Any]]) -> None:
    up = sum(1 for n in nodes if n["status"] == "up")
    console.print(Text(f"{up} of {len(nodes)} nodes answered.", style="dim"))
    for node in nodes:
        if node["status"] != "up":
            console.print(Text(f"down: {node['url']}: {node['error']}", style="red"))


def render_fleet_top(body: dict[str, Any]) -> None:
    """`llmfit fleet top`: best (model, node) placements."""
    body = escape_controls(body)
    console = _console()
    console.print(Text("Best placements across the fleet", style="bold"))
    if body["placements"]:
        rows = [[Text(_short_name(r["model"])), _node(r), _fit(r), *_figures(r)]
                for r in body["placements"]]
        console.print(_table(console.width, ("Model", "Node", "Fit", *_FIGURES), rows, 2))
    else:
        console.print("No placement: no node answered, or none fits these filters.")
    _nodes_footer(console, body["nodes"])


def render_fleet_where(body: dict[str, Any]) -> None:
    """`llmfit fleet where MODEL`: the nodes that run it, fastest first."""
    body = escape_controls(body)
    console = _console()
    console.print(Text(f"{body['model'] or 'The model'} on "
                       f"{len(body['placements'])} nodes, fastest first", style="bold"))
    if body["placements"]:
        rows = [[_node(r), _fit(r), Text(r["run_mode_label"]), *_figures(r)]
                for r in body["placements"]]
        console.print(_table(console.width, ("Node", "Fit", "Run", *_FIGURES), rows, 1))
    _nodes_footer(console, body["nodes"])


def render_fleet_capacity(body: dict[str, Any]) -> None:
    """`llmfit fleet capacity`: totals, GPUs by name, and one row per node."""
    body = escape_controls(body)
    console, totals = _console(), body["totals"]
    console.print(Text(
        f"Fleet: {totals['nodes_up']} nodes up, {totals['nodes_down']} down\n"
        f"{totals['cpu_cores']} cores, {totals['total_ram_gb']:.1f} GiB RAM "
        f"({totals['available_ram_gb']:.1f} available); GPUs: {totals['gpu_count']}, "
        f"{totals['gpu_memory_gb']:.1f} GiB", style="bold"))
    if totals["gpus"]:
        rows = [[Text(g["name"]), str(g["count"]), _gb(g["memory_gb"])] for g in totals["gpus"]]
        console.print(_table(console.width, ("GPU", "Count", "GiB"), rows, 1))
    if body["per_node"]:
        rows = [[_node(r), Text(r["backend"]), str(r["cpu_cores"]), _gb(r["total_ram_gb"]),
                 str(r["gpu_count"]), _gb(r["gpu_memory_gb"])] for r in body["per_node"]]
        headers = ("Node", "Backend", "Cores", "RAM GiB", "GPUs", "GPU GiB")
        console.print(_table(console.width, headers, rows, 2))
    _nodes_footer(console, body["nodes"])
