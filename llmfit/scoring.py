"""Pure: the composite score (0-100) from quality, speed, fit and context, weighted by category.

A model that decodes slower than a person reads is scaled down in proportion, so a slow
machine's list is led by models that are usable on it (see docs/estimation.md).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from llmfit.catalog import ModelSpec
from llmfit.placement import FitLevel

# (quality, speed, fit, context) weights per category; each row sums to 1.
CATEGORY_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "General": (0.50, 0.20, 0.15, 0.15),
    "Chat": (0.45, 0.25, 0.15, 0.15),
    "Coding": (0.50, 0.15, 0.15, 0.20),
    "Reasoning": (0.50, 0.25, 0.15, 0.10),
    "Multimodal": (0.50, 0.20, 0.15, 0.15),
    "Embedding": (0.40, 0.20, 0.30, 0.10),
}
# Decode speed that earns the full speed score, tokens/s: comfortably faster than reading.
# Beyond it more speed adds nothing; reasoning models think at length, so they want more.
TARGET_TPS = {"General": 15.0, "Chat": 15.0, "Coding": 20.0, "Reasoning": 25.0,
              "Multimodal": 15.0, "Embedding": 30.0}
USABLE_TPS = 6.0  # about reading speed: below it the whole score is scaled by tps / USABLE_TPS
UNKNOWN_SPEED_SCORE = 40.0
FIT_SCORES = {FitLevel.PERFECT: 100.0, FitLevel.GOOD: 85.0, FitLevel.MARGINAL: 55.0,
              FitLevel.TOO_TIGHT: 0.0}
FULL_CONTEXT_TOKENS = 32768  # context score reaches 100 here (log scale from 1,024)
RECENCY_REFERENCE = dt.date(2025, 1, 1)  # models released before lose up to 15 points
RECENCY_POINTS_PER_YEAR = 6.0


@dataclass(frozen=True)
class Scores:
    """Score components and the composite, each 0-100."""

    quality: float
    speed: float
    fit: float
    context: float
    total: float


def quality_score(model: ModelSpec, quant_penalty: float) -> float:
    """Size (log scale; MoE by the geometric mean of total and active) less age and quantization."""
    size_b = model.params_b
    if model.active_params_b:
        size_b = math.sqrt(model.params_b * model.active_params_b)
    size = 26.0 + 9.0 * math.log2(max(size_b, 0.01) / 0.5)
    released = dt.date.fromisoformat(model.release_date)
    years_old = max((RECENCY_REFERENCE - released).days / 365.25, 0.0)
    age = min(years_old * RECENCY_POINTS_PER_YEAR, 15.0)
    return _clamp(size - age - quant_penalty)


def speed_score(category: str, tps: float | None) -> float:
    """100 at the category's target speed, falling on a square-root curve below it."""
    if tps is None:
        return UNKNOWN_SPEED_SCORE
    return _clamp(100.0 * math.sqrt(min(tps / TARGET_TPS[category], 1.0)))


def context_score(usable_context: int) -> float:
    """0 at 1,024 tokens or less, 100 at 32,768 and more (log scale)."""
    if usable_context <= 1024:
        return 0.0
    return _clamp(100.0 * math.log2(usable_context / 1024) / math.log2(FULL_CONTEXT_TOKENS / 1024))


def score_model(model: ModelSpec, level: FitLevel, tps: float | None, usable_context: int,
                quant_penalty: float) -> Scores:
    """All components and the weighted composite."""
    parts = (quality_score(model, quant_penalty), speed_score(model.category, tps),
             FIT_SCORES[level], context_score(usable_context))
    weights = CATEGORY_WEIGHTS[model.category]
    total = sum(w * p for w, p in zip(weights, parts))
    if tps is not None and tps < USABLE_TPS:
        total *= tps / USABLE_TPS
    if level is FitLevel.TOO_TIGHT:
        total = 0.0
    return Scores(*parts, total=_clamp(total))


def _clamp(value: float) -> float:
    return max(0.0, min(100.0, value))
