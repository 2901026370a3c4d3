"""Pure: what a Kubernetes Node should be labelled with, and the patch that gets it there.

Labels let plain `nodeAffinity` rules target nodes ("runs 32B models well"); values are short
label-safe words or integers (`Gt`/`Lt` compare integers). The top models go in an annotation,
as compact JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from llmfit.errors import UsageError
from llmfit.fit import FitResult
from llmfit.placement import FitLevel
from llmfit.values import SystemSpec

DEFAULT_PREFIX = "llmfit.io/"
TOP_ANNOTATION_MODELS = 5
NONE = "none"

# Size classes as people name models, in billions of parameters. A node reaches a class when a
# model of at least 80 % of that size fits at `good` (Llama-2-7B's 6.7B counts as "8b", Gemma's
# 27B as "32b"; Mixtral's 46.7B only as "32b": a 70B model need not fit beside it).
SIZE_CLASSES_B: tuple[float, ...] = (0.5, 1, 3, 8, 14, 32, 70, 120, 235, 405, 671)
SIZE_CLASS_SHARE = 0.8
# GPU memory classes in GB as cards are sold; a node is in the largest class its total GPU memory
# reaches within 5 % (drivers report a 24 GB card as 23.5-23.99 GiB).
GPU_MEMORY_CLASSES_GB = (4, 6, 8, 12, 16, 24, 32, 48, 64, 80, 96, 128, 141, 192, 256, 320, 384,
                         512, 640, 768, 1024, 1152, 1536)
GPU_MEMORY_TOLERANCE = 0.95
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/$")
_NOT_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class NodeMarks:
    """The labels and annotations llmfit wants on a node (keys with the prefix)."""

    labels: dict[str, str]
    annotations: dict[str, str]


def check_prefix(prefix: str) -> str:
    """A label prefix: a DNS subdomain followed by `/` (e.g. `llmfit.io/`), else a UsageError."""
    if not _PREFIX.match(prefix) or ".." in prefix:
        raise UsageError(f"invalid --prefix value {prefix!r}: use a lower-case DNS name ending "
                         f"in /, e.g. {DEFAULT_PREFIX}")
    return prefix


def label_value(text: str) -> str:
    """Any text as a valid label value: `CPU (x86)` → `cpu-x86` (at most 63 characters)."""
    slug = _NOT_LABEL_CHARS.sub("-", text.strip().lower())
    return slug[:63].strip("-_.") or NONE


def size_class(params_b: float) -> str:
    """The largest size class a model with `params_b` billion parameters reaches (`8b`, ...)."""
    reached = [c for c in SIZE_CLASSES_B if params_b >= c * SIZE_CLASS_SHARE]
    return f"{reached[-1]:g}b" if reached else NONE


def gpu_memory_gib(system: SystemSpec) -> float:
    """All GPU memory of the node, every card counted."""
    return sum((g.vram_gib or 0.0) * g.count for g in system.gpus)


def gpu_memory_class(system: SystemSpec) -> str:
    """`24gb`, `80gb`, ...: the largest class the node's GPU memory reaches; `none` without."""
    total_gb = gpu_memory_gib(system) * 2**30 / 1e9
    if total_gb <= 0:
        return NONE
    reached = [c for c in GPU_MEMORY_CLASSES_GB if total_gb >= c * GPU_MEMORY_TOLERANCE]
    return f"{reached[-1]}gb" if reached else f"lt{GPU_MEMORY_CLASSES_GB[0]}gb"


def largest_good(results: Sequence[FitResult]) -> FitResult | None:
    """The model with the most parameters that fits at `good` or better (None: none does)."""
    good = [r for r in results if r.level >= FitLevel.GOOD]
    return max(good, key=lambda r: (r.model.params_b, r.model.name), default=None)


def top_models_json(rows: Sequence[Mapping[str, Any]]) -> str:
    """The `top-models` annotation: compact JSON of the best rows of /api/v1/models/top."""
    keep = [{"name": r["name"], "quant": r["best_quant"], "fit": r["fit_level"],
             "mode": r["run_mode"], "tps": r["estimated_tps"], "mem_gb": r["memory_required_gb"]}
            for r in rows]
    return json.dumps(keep, separators=(",", ":"), ensure_ascii=False)


def desired_marks(system: SystemSpec, results: Sequence[FitResult],
                  top_rows: Sequence[Mapping[str, Any]], prefix: str = DEFAULT_PREFIX) -> NodeMarks:
    """What the node should carry, from its hardware and its analyses."""
    best = largest_good(results)
    labels = {
        "max-good-size-class": size_class(best.model.params_b) if best else NONE,
        "max-good-params-b": str(int(best.model.params_b)) if best else "0",
        "gpu-memory-class": gpu_memory_class(system),
        "gpu-memory-gib": str(int(round(gpu_memory_gib(system)))),
        "gpu-count": str(system.gpu_count),
        "backend": label_value(system.backend),
    }
    annotations = {"top-models": top_models_json(top_rows),
                   "max-good-model": best.model.name if best else ""}
    return NodeMarks({prefix + k: v for k, v in labels.items()},
                     {prefix + k: v for k, v in annotations.items()})


def node_patch(labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None,
               desired: NodeMarks) -> dict[str, Any] | None:
    """The merge patch that changes only the keys whose value differs; None when all match."""
    metadata: dict[str, dict[str, str]] = {}
    for kind, current, wanted in (("labels", labels or {}, desired.labels),
                                  ("annotations", annotations or {}, desired.annotations)):
        changed = {k: v for k, v in wanted.items() if current.get(k) != v}
        if changed:
            metadata[kind] = changed
    return {"metadata": metadata} if metadata else None
