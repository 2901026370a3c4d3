"""Per-layer time left after the memory traffic, per calibration row: what the speed model's
fixed costs (t_layer, the MoE cost) must explain.

    python benchmarks/overhead.py [--group cuda] [--moe] [--device TEXT]

For each row: the measured time per token, the model's memory time (weights and KV cache at the
fitted efficiency, kernel and device factors), and the rest divided by the model's layers, next
to what the fitted constants give per layer (t_layer plus, for MoE models, k_moe x t_layer).
The build (llama.cpp bNNNN or commit) and a date are taken from the row's notes where stated.
It shows, for instance, that the same RTX 5090 spends 61-72 us per layer of Qwen3-30B-A3B on
March 2026 builds and 31 us on a September one, which no build-blind constant can follow.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import calibrate  # noqa: E402

BUILD = re.compile(r"\bb(\d{4,5})\b|\((\d{4,5})\)|\b([0-9a-f]{7,9})\b")
DATE = re.compile(r"\b(20\d\d-\d\d(?:-\d\d)?)\b|\b((?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                  r"[a-z]* 20\d\d)\b")


def build_and_date(notes: str) -> tuple[str, str]:
    """The first llama.cpp build or commit and the first date the notes state ('' if none)."""
    build = next((next(g for g in b.groups() if g) for b in BUILD.finditer(notes)), "")
    found = DATE.search(notes)
    return build, (next(g for g in found.groups() if g) if found else "")


def main(argv: list[str]) -> int:
    group = argv[argv.index("--group") + 1] if "--group" in argv else "cuda"
    device = argv[argv.index("--device") + 1].lower() if "--device" in argv else ""
    rows, _ = calibrate.measurements()
    c = calibrate.fit(rows)
    print(f"{'device':30} {'model':24} {'quant':7} {'depth':>5} {'tok/s':>7} {'ms':>6} "
          f"{'mem ms':>6} {'us/layer':>8} {'model':>6}  build      date")
    for m in rows:
        if m.group != group or ("--moe" in argv and not m.model.is_moe):
            continue
        if device and device not in m.device.lower():
            continue
        total = 1 / m.tps
        memory = calibrate._mem_seconds(m, c) / c.e[m.device_class]
        per_layer = (total - memory) / m.layers
        fitted = c.t_layer[m.device_class] + calibrate._moe_seconds(m, c) / m.layers
        build, date = build_and_date(m.notes)
        print(f"{m.device[:30]:30} {m.model.name.split('/')[-1][:24]:24} {m.quant:7} {m.depth:5} "
              f"{m.tps:7.1f} {total * 1e3:6.2f} {memory * 1e3:6.2f} {per_layer * 1e6:8.1f} "
              f"{fitted * 1e6:6.1f}  {build[:10]:10} {date}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
