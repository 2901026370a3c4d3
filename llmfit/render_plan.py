"""Rich report of a plan: this node's verdict, the hardware per run path, upgrades, KV types, commands."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.markup import escape
from rich.table import Table

from llmfit.render import FIT_STYLES, _console, escape_controls

PATH_LABELS = {"gpu": "GPU", "moe_offload": "MoE offload", "cpu_offload": "CPU+GPU split",
               "cpu_only": "CPU only"}


def _hw(hw: dict[str, Any] | None) -> str:
    if hw is None:
        return "-"
    gpu = f"{hw['vram_gb']:g} GB GPU, " if hw["vram_gb"] else "no GPU, "
    return f"{gpu}{hw['ram_gb']:g} GB RAM, {hw['cpu_cores']} cores"


def _tps(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_plan(body: dict[str, Any]) -> None:
    """Print `llmfit plan`'s report of the POST /api/v1/plan object."""
    body = escape_controls(body)
    console = _console()
    cur = body["current"]
    style = FIT_STYLES.get(cur["fit_level"], "default")
    target = f", target {body['target_tps']:g} tok/s" if body["target_tps"] else ""
    console.print(f"[bold]{escape(body['model_name'])}[/] at {body['quantization']}, "
                  f"{body['context']:,}-token context, KV cache {body['kv_quant']}, "
                  f"{body['parallel']} sequence(s){target}; weights {body['disk_size_gb']:g} GB")
    console.print(f"This node: [{style}]{cur['fit_label']}[/] ({cur['run_mode_label']}), "
                  f"{_tps(cur['estimated_tps'])} tok/s")
    if body["recommended_path"]:
        path = PATH_LABELS[body["recommended_path"]]
        console.print(f"Minimum ({path}): {_hw(body['minimum'])}")
        console.print(f"Recommended ({path}): {_hw(body['recommended'])}")
    paths = Table(box=box.SIMPLE_HEAD, title="Run paths", title_justify="left")
    for header in ("Path", "Fit", "tok/s", "Minimum", "Recommended"):
        paths.add_column(header, justify="right" if header == "tok/s" else "left")
    for p in body["run_paths"]:
        fit = p["fit_level"] or "not feasible"
        paths.add_row(PATH_LABELS[p["path"]], f"[{FIT_STYLES.get(fit, 'default')}]{fit}[/]",
                      _tps(p["estimated_tps"]), _hw(p["minimum"]), _hw(p["recommended"]))
    console.print(paths)
    for p in body["run_paths"]:
        for note in p["notes"]:
            console.print(f"  {PATH_LABELS[p['path']]}: {note}", markup=False)
    if body["upgrade_deltas"]:
        console.print("\n[bold]To do better on this node[/]")
        for delta in body["upgrade_deltas"]:
            console.print(f"  {delta['description']}", markup=False)
    kv = Table(box=box.SIMPLE_HEAD, title="KV-cache types", title_justify="left")
    for header in ("Type", "KV GB", "Total GB", "Saves", "Runtime flag"):
        kv.add_column(header, justify="left" if header in ("Type", "Runtime flag") else "right")
    for alt in body["kv_alternatives"]:
        kv.add_row(alt["kv_quant"], f"{alt['kv_cache_gb']:.2f}", f"{alt['memory_required_gb']:.2f}",
                   f"{alt['savings_fraction'] * 100:.0f}%", alt["note"])
    console.print(kv)
    for name, command in body["commands"].items():
        if command:
            console.print(f"{name.replace('_', '-')}: {command}", markup=False, soft_wrap=True)
    console.print(body["estimate_notice"], markup=False, soft_wrap=True)
