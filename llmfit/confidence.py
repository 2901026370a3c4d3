"""How far to trust a decode-speed estimate: a confidence level and a range, from the
leave-one-out error of the calibration rows of the same device class (data/efficiency.csv)
and, for mixtures of experts, of the MoE rows of the same backend (efficiency.csv) or of all
MoE rows (data/accuracy.csv) where a backend has too few."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from llmfit.estimate import Efficiency, _read_data

MIN_ROWS_HIGH = 10  # a class fitted on fewer rows is at best `medium`
OFFLOAD_ERROR = 0.5  # layer splits and expert offload are not calibrated: +-50%
MIN_MOE_ROWS = 8  # fewer MoE rows on a backend: the error of all MoE rows applies


@dataclass(frozen=True)
class SpeedRange:
    """`estimate_confidence` with `estimated_tps_low` / `estimated_tps_high`."""

    confidence: str  # high, medium, low
    low: float | None
    high: float | None


@cache
def group_accuracy() -> dict[str, tuple[int, float, float]]:
    """(rows, LOO median, LOO max) per evaluation group (CPU, NVIDIA, AMD, Apple, MoE)."""
    return {r["group"]: (int(r["rows"]), float(r["loo_median_pct"]) / 100,
                         float(r["loo_max_pct"]) / 100) for r in _read_data("accuracy.csv")}


def speed_range(tps: float | None, eff: Efficiency | None, moe: bool, offloaded: bool,
                bandwidth_measured: bool) -> SpeedRange:
    """Confidence and range of a tokens/s figure estimated with `eff`'s constants."""
    if tps is None or eff is None:
        return SpeedRange("low", None, None)
    median, worst, rows = eff.loo_median, eff.loo_max, eff.rows
    if moe:
        # MoE rows of this backend group where there are enough of them, else the worse of
        # theirs and all MoE rows'.
        moe_rows, moe_median, moe_worst = eff.moe_rows, eff.moe_loo_median, eff.moe_loo_max
        if moe_rows < MIN_MOE_ROWS:
            every = group_accuracy().get("MoE", (0, 1.0, 1.0))
            moe_rows, moe_median, moe_worst = (every[0], max(moe_median, every[1]),
                                               max(moe_worst, every[2]))
        median, worst, rows = max(median, moe_median), max(worst, moe_worst), min(rows, moe_rows)
    if not eff.calibrated or rows == 0:
        median = worst = max(worst, OFFLOAD_ERROR)
    if offloaded:
        worst = max(worst, OFFLOAD_ERROR)
    if offloaded or not bandwidth_measured or not eff.calibrated or median > 0.20:
        level = "low"
    elif median <= 0.10 and worst <= 0.30 and rows >= MIN_ROWS_HIGH:
        level = "high"
    else:
        level = "medium"
    return SpeedRange(level, tps / (1 + worst), tps / (1 - min(worst, 0.6)))
