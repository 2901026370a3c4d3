"""Rich tables and panels for the CLI. They render the same JSON objects `--json` prints."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

FIT_STYLES = {"perfect": "bold green", "good": "green", "marginal": "yellow",
              "too_tight": "red"}


_CONTROL = {c: f"\\x{c:02x}" for c in list(range(32)) + list(range(127, 160))}


def escape_controls(value: Any) -> Any:
    """Strings with terminal control characters shown as \\xNN (names from GPU drivers, node
    names, catalog overlays reach the terminal only this way); dicts and lists walked."""
    if isinstance(value, str):
        return value.translate(_CONTROL)
    if isinstance(value, dict):
        return {k: escape_controls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_controls(v) for v in value]
    return value


def _console() -> Console:
    # Piped output keeps 80 columns and no colour codes; a terminal uses its own width.
    return Console(highlight=False, soft_wrap=False)


def _gb(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _tps(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _row_tps(row: dict[str, Any]) -> str:
    """tok/s of a row; "~" marks a low-confidence estimate."""
    text = _tps(row["estimated_tps"])
    return "~" + text if row.get("estimate_confidence") == "low" and text != "-" else text


def _size(row: dict[str, Any]) -> str:
    """"8.0B", or "30.5B/3.3B" (total/active) for mixtures of experts; "141B" from 100B."""
    def short(billions: float) -> str:
        if billions < 1:
            return f"{billions * 1000:.0f}M"
        return f"{billions:.0f}B" if billions >= 100 else f"{billions:.1f}B"

    text = short(row["params_b"])
    active = row["parameter_count"].partition(" (")[2].partition(" active)")[0]
    return f"{text}/{active}" if active else text


def _short_name(name: str) -> str:
    return name.split("/", 1)[-1]


def render_system(body: dict[str, Any]) -> None:
    """The `llmfit system` view."""
    body = escape_controls(body)
    s, node = body["system"], body["node"]
    table = Table(box=box.SIMPLE, show_header=False, title=f"{node['name']} ({node['os']})",
                  title_justify="left", pad_edge=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_row("CPU", f"{s['cpu_name']} ({s['cpu_cores']} cores)")
    table.add_row("RAM", f"{s['total_ram_gb']:.1f} GiB total, {s['available_ram_gb']:.1f} GiB available")
    table.add_row("CPU memory", f"{s['cpu_bandwidth_gbps']:.0f} GB/s streamed by the cores "
                                f"({s['cpu_bandwidth_source']})")
    table.add_row("Backend", s["backend"])
    if not s["gpus"]:
        table.add_row("GPU", "none detected")
    for gpu in s["gpus"]:
        count = f"{gpu['count']}x " if gpu["count"] > 1 else ""
        free = f", {_gb(gpu['free_vram_gb'])} GiB usable" if gpu["free_vram_gb"] is not None else ""
        bandwidth = (f", {gpu['memory_bandwidth_gbps']:.0f} GB/s"
                     if gpu["memory_bandwidth_gbps"] else ", bandwidth unknown")
        kind = "unified" if gpu["unified_memory"] else "VRAM"
        table.add_row("GPU", f"{count}{gpu['name']}: {_gb(gpu['vram_gb'])} GiB {kind}{free}{bandwidth}")
    console = _console()
    console.print(table)
    for note in s.get("notes", []):
        console.print(Text(f"note: {note}", style="dim"))


def render_models(body: dict[str, Any], title: str, name: str | None = None) -> None:
    """The `llmfit models/top/search` table."""
    body, name = escape_controls(body), escape_controls(name)
    console = _console()
    system = body["system"]
    where = system["gpu_name"] or system["cpu_name"]
    heading = f"{title}: {body['returned_models']} of {body['total_models']} models"
    if name:
        heading += f' matching "{name}"'
    console.print(Text(f"{heading} for {where} ({system['backend']})", style="bold"))
    if not body["models"]:
        console.print("No model matches these filters.")
        return
    headers = ("Size", "Quant", "Run", "Fit", "GiB", "tok/s", "Score")
    cells = [[_size(r), r["best_quant"] or "-", r["run_mode_label"], r["fit_label"],
              _gb(r["memory_required_gb"]), _row_tps(r), f"{r['score']:.0f}"]
             for r in body["models"]]
    names = [_short_name(r["name"]) for r in body["models"]]
    styles = [FIT_STYLES[r["fit_level"]] for r in body["models"]]
    table = fitted_table(console.width, "Model", names, headers, cells,
                         right=("Size", "GiB", "tok/s", "Score"),
                         drop_order=("Run", "Quant", "Size", "Score", "GiB"),
                         styled={"Fit": styles})
    console.print(table)
    ctx = body["models"][0]["effective_context_length"]
    note = "~: low-confidence speed. " if any(r.get("estimate_confidence") == "low"
                                               for r in body["models"]) else ""
    console.print(Text(f"Memory at {ctx:,}-token context where the model allows it; {note}"
                       "--json for every field.", style="dim"))


NAME_MIN = 8  # the name column keeps this much before figure columns are dropped


def fitted_table(width: int, name_header: str, names: list[str], headers: tuple[str, ...],
                 cells: list[list[str]], right: tuple[str, ...], drop_order: tuple[str, ...],
                 styled: dict[str, list[str]] | None = None) -> Table:
    """A table whose figure columns are never cut: on a narrow screen the name column gives
    way first (ellipsis), then whole columns in `drop_order` are left out."""
    keep = list(headers)
    widths = {h: max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)}

    def room() -> int:  # one space of padding each side, one between columns
        return width - sum(widths[h] for h in keep) - 3 * len(keep) - 1

    for header in drop_order:
        if room() >= NAME_MIN:
            break
        keep.remove(header)
    longest = max((len(n) for n in names), default=len(name_header))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(name_header, no_wrap=True, overflow="ellipsis",
                     width=max(min(room(), longest), min(NAME_MIN, longest)))
    for header in keep:
        table.add_column(header, justify="right" if header in right else "left", no_wrap=True,
                         width=widths[header])
    index = {h: i for i, h in enumerate(headers)}
    for r, (name, cell) in enumerate(zip(names, cells)):
        values: list[Any] = []
        for header in keep:
            text = cell[index[header]]
            style = (styled or {}).get(header)
            values.append(Text(text, style=style[r]) if style else text)
        table.add_row(name, *values)
    return table


ORIGINS = {"catalog": "curated catalog", "hub": "Hugging Face Hub (config.json)",
           "gguf": "GGUF file header", "ollama": "Ollama blob (GGUF header)"}


def render_info(body: dict[str, Any], model: Any, origin: str, chosen: dict[str, Any]) -> None:
    """The `llmfit info` view: the model's facts, then one line per quantization."""
    from dataclasses import replace

    from llmfit.catalog import parameter_count_label

    body, chosen = escape_controls(body), escape_controls(chosen)
    model = replace(model, name=escape_controls(model.name), provider=escape_controls(model.provider),
                    family=escape_controls(model.family))

    console = _console()
    a = model.arch
    facts = Table(box=box.SIMPLE, show_header=False, pad_edge=False,
                  title=model.name, title_justify="left")
    facts.add_column("key", style="bold", no_wrap=True)
    facts.add_column("value")
    facts.add_row("Source", ORIGINS.get(origin, origin))
    facts.add_row("Provider", f"{model.provider} ({model.family})")
    facts.add_row("Parameters", parameter_count_label(model))
    shape = f"{a.kind}, {a.layers} layers, hidden {a.hidden_size}, {a.attention_heads} heads / {a.kv_heads} KV"
    if a.is_mla:
        shape += f", MLA rank {a.kv_lora_rank}"
    if a.is_moe:
        shape += f", {a.experts} experts ({a.experts_per_token} active)"
    if a.kind == "hybrid":
        shape += f", {a.attention_layers} attention layers"
    facts.add_row("Architecture", shape)
    facts.add_row("Context", f"{model.context_length:,} tokens")
    facts.add_row("Released", f"{model.release_date}, licence {model.license or 'unknown'}")
    if model.exact_weights is not None:
        facts.add_row("Weights", f"{model.exact_weights.total_bytes:,} bytes "
                                 f"({model.exact_weights.total_bytes / 2**30:.2f} GiB) at {model.exact_weights.quant}")
    console.print(facts)
    rows = body["models"]
    ctx = rows[0]["effective_context_length"] if rows else 0
    console.print(Text(f"On this machine at {ctx:,} tokens of context (GiB)"))
    headers = ("Weights", "KV", "Other", "Total", "Run", "Fit", "tok/s")
    cells = [[_gb(r["memory_breakdown"]["weights_gb"]), _gb(r["memory_breakdown"]["kv_cache_gb"]),
              _gb(r["memory_breakdown"]["overhead_gb"]), _gb(r["total_memory_gb"]),
              r["run_mode_label"], r["fit_label"], _row_tps(r)] for r in rows]
    quants = [(r["best_quant"] or "-") + (" (file)" if r["weights_exact"] else "") for r in rows]
    console.print(fitted_table(console.width, "Quant", quants, headers, cells,
                               right=("Weights", "KV", "Other", "Total", "tok/s"),
                               drop_order=("Other", "KV", "Weights", "Run"),
                               styled={"Fit": [FIT_STYLES[r["fit_level"]] for r in rows]}))
    own = [r for r in rows if r["weights_exact"]]
    best = own[0] if own else chosen
    label = "This file" if own else "Best choice here"
    tps = f", {_tps(best['estimated_tps'])} tok/s" if best["estimated_tps"] is not None else ""
    console.print(Text(f"{label}: {best['best_quant']} ({best['fit_label']}, "
                       f"{best['run_mode_label']}{tps})", style="bold"))
    for note in best["notes"]:
        console.print(Text(f"- {note}"))
