"""Accuracy benchmark: llmfit's estimates against the measurements in tests/data/.

    python benchmarks/accuracy.py [--rows]

Weight-file sizes against gguf-sizes.csv and the GGUFs of this project's CPU runs (target:
every row within 2%). Decode speed per group (CPU, NVIDIA, AMD, Apple, MoE): in-sample, and
leave-one-out (each row predicted by constants fitted without it). Target per group:
leave-one-out median within 10%, no row off by more than 30%. --rows prints every row.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import calibrate  # noqa: E402
from llmfit.calibration import (DATA, read_reference_csv, resolve_model,  # noqa: E402
                                size_comparisons)
from llmfit.estimate import weight_bytes, quant_table  # noqa: E402


def sizes() -> list[tuple[str, float]]:
    out = [(c.label, c.error) for c in size_comparisons(read_reference_csv(DATA / "gguf-sizes.csv"))]
    seen = set()
    for row in read_reference_csv(DATA / "cpu-measured.csv"):
        key = (row["model"], row["quant"])
        if key in seen or not row.get("file_bytes"):
            continue
        seen.add(key)
        model = resolve_model(row["model"])
        est = weight_bytes(model.arch, model.params_b, quant_table()[row["quant"]]).total
        out.append((f"{row['model']} {row['quant']} (measured file)", est / float(row["file_bytes"]) - 1))
    return out


def main(argv: list[str]) -> int:
    size_rows = sizes()
    print("Weight file sizes")
    for label, err in size_rows:
        print(f"  {label:60} {err * 100:+6.2f}%")
    worst_size = max(abs(e) for _, e in size_rows)
    rows, skipped = calibrate.measurements()
    c = calibrate.fit(rows)
    inside, loo = calibrate.errors(rows, c), calibrate.leave_one_out(rows)
    print(f"\nDecode speed: {len(rows)} rows ({len(skipped)} left out, see scripts/calibrate.py)")
    if "--rows" in argv:
        for m, e, l in sorted(zip(rows, inside, loo), key=lambda x: -abs(x[2])):
            print(f"  {l * 100:+6.1f}% (in {e * 100:+6.1f}%) {m.device[:40]:40} "
                  f"{m.model.name.split('/')[-1][:26]:26} {m.quant:7} {m.tps:8.2f}")
    ok = worst_size < 0.02
    print(f"\n  {'group':8} {'rows':>4} {'in-sample median/worst':>24} {'leave-one-out median/worst':>28}")
    for group in calibrate.EVAL_GROUPS:
        n, med, worst = calibrate.summary(rows, inside, lambda m: group in m.groups)
        _, lmed, lworst = calibrate.summary(rows, loo, lambda m: group in m.groups)
        met = lmed <= 0.10 and lworst <= 0.30
        ok = ok and met
        print(f"  {group:8} {n:4} {med * 100:12.1f}% / {worst * 100:5.1f}% "
              f"{lmed * 100:14.1f}% / {lworst * 100:5.1f}%  {'met' if met else 'MISSED'}")
    print("\ntargets (sizes within 2%; per group LOO median <= 10%, worst <= 30%):",
          "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
