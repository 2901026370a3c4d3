"""Rich tables for `llmfit runtimes` and `llmfit installed` (the JSON bodies of the API)."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from llmfit.render import _console, escape_controls

LABELS = {"ollama": "Ollama", "llamacpp": "llama.cpp", "lmstudio": "LM Studio", "mlx": "MLX",
          "vllm": "vLLM", "docker_model_runner": "Docker Model Runner"}


def _yes(flag: bool) -> str:
    return "yes" if flag else "-"


def _warnings(console: Any, warnings: list[str]) -> None:
    for line in warnings:
        console.print(f"note: {line}", style="dim", markup=False)


def render_runtimes(body: dict[str, Any]) -> None:
    """One line per runtime: installed, running, version, address."""
    body = escape_controls(body)
    console = _console()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header in ("Runtime", "Installed", "Running", "Version", "Endpoint"):
        table.add_column(header, overflow="fold")
    for r in body["runtimes"]:
        table.add_row(LABELS.get(r["name"], r["name"]), _yes(r["installed"]), _yes(r["running"]),
                      r["version"] or "-", r["endpoint"] or "-")
    console.print(table)
    _warnings(console, [w for w in body["warnings"] if ": not found" not in w])


def render_installed(body: dict[str, Any]) -> None:
    """One line per installed model: runtime, its own name, quant, size, catalog row, loaded."""
    body = escape_controls(body)
    console = _console()
    models = body["models"]
    if not models:
        console.print("No installed models found.")
        _warnings(console, body["warnings"])  # they say why
        return
    console.print(f"installed: {len(models)} model{'s' if len(models) != 1 else ''}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for header, justify in (("Runtime", "left"), ("Model", "left"), ("Quant", "left"),
                            ("GB", "right"), ("Loaded", "left"), ("Catalog", "left")):
        table.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for m in models:
        size = "-" if m["size_gb"] is None else f"{m['size_gb']:.1f}"
        table.add_row(LABELS.get(m["runtime"], m["runtime"]), m["name"], m["quant"] or "-",
                      size, _yes(m["loaded"]), m["catalog_name"] or "-")
    console.print(table)
    _warnings(console, [w for w in body["warnings"] if ": not found" not in w])
