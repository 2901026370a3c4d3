"""Pure: the fleet view's node list, the checks on each agent's answer, and the cluster-wide merges.

`llmfit fleet` asks every node agent (`llmfit serve`) one question over HTTP (fleet_poll.py does
the I/O) and merges the answers here: best placements, the nodes that run one model, and the
capacity of the whole fleet. Agents are other machines: their answers are checked before use,
and a node whose answer breaks the contract counts as down, with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import urlsplit

from llmfit.errors import NotFoundError, UsageError

MAX_NODES = 1000
MAX_CONCURRENCY = 64
DEFAULT_TIMEOUT_S = 2.0
WHERE_ROWS = 50  # rows each node returns for `fleet where`: the search may match siblings
_ERROR_CHARS = 200


@dataclass(frozen=True)
class NodeAnswer:
    """One agent's answer: `value` is what a reader made of its body, or `error` says why none."""

    url: str
    name: str | None = None
    value: Any = None
    error: str | None = None

    @property
    def up(self) -> bool:
        return self.error is None


Reader = Callable[[Any], tuple[str, Any]]


# --- the node list ---------------------------------------------------------------------------

def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")


def normalize_url(text: str) -> str:
    """An agent's base URL: http or https, a host, optional port and path prefix; no query."""
    hint = "give the agent's base URL, e.g. http://10.0.0.5:8787"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"invalid node URL {_shown(text)}: {hint}")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise UsageError(f"invalid node URL {_shown(text)}: {hint}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid node URL {_shown(text)}: use http:// or https://; {hint}")
    if parts.username is not None or parts.query or parts.fragment or port == 0:
        raise UsageError(f"invalid node URL {_shown(text)}: no user, query, fragment or port 0; "
                         f"{hint}")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def parse_node_urls(items: Iterable[str]) -> tuple[str, ...]:
    """URLs from `--nodes` values (comma-separated) and file lines (`#` comments): checked, deduped."""
    urls: dict[str, None] = {}
    for item in items:
        for part in item.split(","):
            text = part.strip()
            if text and not text.startswith("#"):
                urls[normalize_url(text)] = None
                if len(urls) > MAX_NODES:
                    raise UsageError(f"too many nodes: at most {MAX_NODES:,}")
    if not urls:
        raise UsageError("no nodes: give --nodes URL,URL..., --nodes-file PATH or --k8s")
    return tuple(urls)


# --- reading one agent's answer (ValueError: the node counts as down) ------------------------

def _check(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _is_number(value: Any, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _node_name(body: Any) -> str:
    _check(isinstance(body, dict), "the answer is not a JSON object")
    node = body.get("node")
    _check(isinstance(node, dict) and isinstance(node.get("name"), str), "no node.name")
    return str(node["name"])


_ROW_TEXT = ("name", "fit_level", "fit_label", "run_mode", "run_mode_label")


def _check_row(row: Any) -> None:
    _check(isinstance(row, dict), "a model row is not an object")
    for key in _ROW_TEXT:
        _check(isinstance(row.get(key), str), f"a model row has no text {key}")
    _check(_is_number(row.get("score")), "a model row has no number score")
    for key in ("estimated_tps", "memory_required_gb"):
        _check(_is_number(row.get(key), nullable=True), f"a model row's {key} is not a number")
    _check(row.get("best_quant") is None or isinstance(row["best_quant"], str),
           "a model row's best_quant is not text")


def read_listing(body: Any) -> tuple[str, list[dict[str, Any]]]:
    """Node name and model rows of an envelope (/api/v1/models/top, /api/v1/models/{name})."""
    name = _node_name(body)
    rows = body.get("models")
    _check(isinstance(rows, list), "no models list")
    for row in rows:
        _check_row(row)
    return name, rows


def read_system(body: Any) -> tuple[str, dict[str, Any]]:
    """Node name and system object of /api/v1/system."""
    name = _node_name(body)
    system = body.get("system")
    _check(isinstance(system, dict), "no system object")
    for key in ("total_ram_gb", "available_ram_gb"):
        _check(_is_number(system.get(key)), f"system.{key} is not a number")
    for key in ("cpu_cores", "gpu_count"):
        _check(_is_int(system.get(key)) and system[key] >= 0, f"system.{key} is not an integer")
    _check(isinstance(system.get("backend"), str), "system.backend is not text")
    gpus = system.get("gpus")
    _check(isinstance(gpus, list), "system.gpus is not a list")
    for gpu in gpus:
        _check(isinstance(gpu, dict) and isinstance(gpu.get("name"), str)
               and _is_int(gpu.get("count")) and gpu["count"] >= 0
               and _is_number(gpu.get("vram_gb"), nullable=True), "a system.gpus entry is malformed")
    return name, system


def short_error(text: str) -> str:
    """A node's error text on one line, cut to a readable length."""
    line = " ".join(str(text).split())
    return line if len(line) <= _ERROR_CHARS else line[:_ERROR_CHARS - 3] + "..."


# --- merges ----------------------------------------------------------------------------------

def nodes_json(answers: Iterable[NodeAnswer]) -> list[dict[str, Any]]:
    """The `nodes` list every fleet answer carries, in the order the nodes were given."""
    return [{"url": a.url, "name": a.name, "status": "up" if a.up else "down", "error": a.error}
            for a in answers]


_PLACEMENT_KEYS = ("fit_level", "fit_label", "run_mode", "run_mode_label", "best_quant",
                   "estimated_tps", "score", "memory_required_gb")


def _placement(answer: NodeAnswer, row: Mapping[str, Any]) -> dict[str, Any]:
    return {"model": row["name"], "node": answer.name, "url": answer.url,
            **{key: row.get(key) for key in _PLACEMENT_KEYS}}


def _faster_first(tps: float | None) -> tuple[bool, float]:
    return (tps is None, -(tps or 0.0))


def fleet_top(answers: list[NodeAnswer], limit: int) -> dict[str, Any]:
    """The best `limit` (model, node) placements: by score, then tokens/s, then model and node."""
    rows = [_placement(a, row) for a in answers if a.up for row in a.value]
    rows.sort(key=lambda r: (-r["score"], *_faster_first(r["estimated_tps"]), r["model"],
                             r["node"], r["url"]))
    return {"nodes": nodes_json(answers), "placements": rows[:limit]}


def resolve_model(query: str, names: set[str]) -> str | None:
    """The one catalog name `query` means: an exact repo id or name after the owner, else the
    only match; None when no node knows it. Several candidates: a usage error."""
    wanted = query.lower()
    exact = sorted(n for n in names if n.lower() == wanted or n.lower().endswith("/" + wanted))
    candidates = exact or sorted(names)
    if len(candidates) > 1:
        shown = ", ".join(candidates[:10]) + (", ..." if len(candidates) > 10 else "")
        raise UsageError(f"{query!r} matches several models: {shown}; give the full name")
    return candidates[0] if candidates else None


def fleet_where(answers: list[NodeAnswer], query: str) -> dict[str, Any]:
    """Nodes that can run one model, fastest first (too tight ones last)."""
    up = [a for a in answers if a.up]
    model = resolve_model(query, {row["name"] for a in up for row in a.value})
    if model is None and up:
        raise NotFoundError(f"no node knows a model matching {query!r}")
    rows = [_placement(a, row) for a in up for row in a.value if row["name"] == model]
    rows.sort(key=lambda r: (r["fit_level"] == "too_tight", *_faster_first(r["estimated_tps"]),
                             r["node"], r["url"]))
    return {"nodes": nodes_json(answers), "model": model, "placements": rows}


def _gib(value: float) -> float:
    return round(value, 2)


def _gpu_memory_gb(system: Mapping[str, Any]) -> float:
    return sum((g["vram_gb"] or 0.0) * g["count"] for g in system["gpus"])


def _node_capacity(answer: NodeAnswer) -> dict[str, Any]:
    system = answer.value
    return {"node": answer.name, "url": answer.url, "cpu_cores": system["cpu_cores"],
            "total_ram_gb": _gib(system["total_ram_gb"]),
            "available_ram_gb": _gib(system["available_ram_gb"]),
            "gpu_count": system["gpu_count"], "gpu_memory_gb": _gib(_gpu_memory_gb(system)),
            "backend": system["backend"]}


def _gpu_totals(systems: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    for system in systems:
        for gpu in system["gpus"]:
            entry = totals.setdefault(gpu["name"], {"name": gpu["name"], "count": 0,
                                                    "memory_gb": 0.0})
            entry["count"] += gpu["count"]
            entry["memory_gb"] += (gpu["vram_gb"] or 0.0) * gpu["count"]
    rows = [{**e, "memory_gb": _gib(e["memory_gb"])} for e in totals.values()]
    return sorted(rows, key=lambda e: (-e["count"], e["name"]))


def fleet_capacity(answers: list[NodeAnswer]) -> dict[str, Any]:
    """Totals over the nodes that answered, and one row per such node."""
    up = [a for a in answers if a.up]
    per_node = sorted((_node_capacity(a) for a in up), key=lambda r: (r["node"], r["url"]))
    totals = {"nodes_up": len(up), "nodes_down": len(answers) - len(up),
              "cpu_cores": sum(r["cpu_cores"] for r in per_node),
              "total_ram_gb": _gib(sum(a.value["total_ram_gb"] for a in up)),
              "available_ram_gb": _gib(sum(a.value["available_ram_gb"] for a in up)),
              "gpu_count": sum(r["gpu_count"] for r in per_node),
              "gpu_memory_gb": _gib(sum(_gpu_memory_gb(a.value) for a in up)),
              "gpus": _gpu_totals([a.value for a in up])}
    return {"nodes": nodes_json(answers), "totals": totals, "per_node": per_node}
