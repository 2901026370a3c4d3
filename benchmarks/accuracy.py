"""Accuracy benchmark: llmfit's estimates against the published measurements in tests/data/.

    python benchmarks/accuracy.py

Weight-file sizes against gguf-sizes.csv (target: every row within 2%) and decode speed
against calibration.csv (target: median error within 10%, no row off by more than 30%).
Note: the bits per weight were fitted on the Llama-3-8B rows and the device-class constants
on calibration.csv itself; the leave-one-out figures show how the speed model does on a
device it was not fitted on.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from llmfit.calibration import (Comparison, read_reference_csv, size_comparisons,  # noqa: E402
                                speed_comparisons)

DATA = ROOT / "tests" / "data"


def report(title: str, rows: list[Comparison], unit: str) -> tuple[float, float]:
    print(f"\n{title}")
    print(f"  {'':44} {'measured':>9} {'estimate':>9} {'error':>7}")
    for c in rows:
        print(f"  {c.label:44} {c.measured:9.2f} {c.estimated:9.2f} {c.error * 100:+6.1f}%")
    errors = [abs(c.error) for c in rows]
    median, worst = statistics.median(errors), max(errors)
    print(f"  median |error| {median * 100:.1f}%, worst {worst * 100:.1f}% ({unit})")
    return median, worst


def leave_one_out() -> list[tuple[str, float]]:
    """Refit each device class without one row and predict that row."""
    import calibrate  # scripts/calibrate.py

    points = calibrate.calibration_points()
    byte_count = calibrate.calibration_bytes_read()
    out = []
    for i, (device, cls, bandwidth, tps) in enumerate(points):
        others = [(byte_count / (bw * 1e9), 1 / t) for j, (_, c, bw, t) in enumerate(points)
                  if c == cls and j != i]
        if len(others) < 2:
            continue  # a class of two rows cannot be refitted without one of them
        e_max, c = calibrate.fit_class(others)
        predicted = 1 / (byte_count / (e_max * bandwidth * 1e9) + c)
        out.append((device, predicted / tps - 1))
    return out


def main() -> int:
    size_median, size_worst = report("Weight file sizes (GiB) vs gguf-sizes.csv",
                                     size_comparisons(read_reference_csv(DATA / "gguf-sizes.csv")),
                                     "GiB")
    speed_median, speed_worst = report("Decode speed (tokens/s) vs calibration.csv",
                                       speed_comparisons(read_reference_csv(DATA / "calibration.csv")),
                                       "tok/s")
    loo = leave_one_out()
    loo_errors = [abs(e) for _, e in loo]
    print(f"\nLeave-one-out decode speed over {len(loo)} rows: median |error| "
          f"{statistics.median(loo_errors) * 100:.1f}%, worst {max(loo_errors) * 100:.1f}% "
          f"({max(loo, key=lambda x: abs(x[1]))[0]})")
    ok = size_worst < 0.02 and speed_median < 0.10 and speed_worst < 0.30
    print("\ntargets (sizes within 2%; speed median within 10%, worst within 30%):",
          "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
