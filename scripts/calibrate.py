"""Derive llmfit's calibration tables from the published measurements in tests/data/.

  python scripts/calibrate.py          print the fitted values and the tables
  python scripts/calibrate.py --write  rewrite the tables in llmfit/data/ (quants, efficiency,
                                       kernels, devices, generations, accuracy, prefill)

Weights: scripts/calibrate_quants.py (bits per weight per file type, fitted to gguf-sizes.csv).
Speed (llmfit/estimate.py): time per token = bytes read / (e x k_quant x bandwidth)
+ KV bytes at depth x k_depth / (e x bandwidth) + layers x t_layer
+ MoE layers x k_moe x t_layer.
Per device class (cpu, cpu_spec, apple, gpu, datacenter, pascal) e and t_layer are fitted by
least squares on relative error over its dense rows;
per backend group (cpu, metal, and for GPUs the backend a row ran on: cuda, rocm, vulkan) the
kernel factors of each quant family (legacy = 1), the MoE cost k_moe (an MoE layer's fixed cost
beyond its bytes, in per-layer costs t_layer of the row's class) and the depth factor are the
medians of what the rows imply; the two steps alternate. A device with several rows of a
quant family gets a residual factor, from its dense rows where it has any. Rows:
tests/data/calibration.csv, speed-published.csv (sources per row), cpu-measured.csv (this
project's own llama-bench runs);
llmfit/calibration.py says which rows it leaves out and why. The report gives in-sample and
leave-one-out error per group.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "llmfit" / "data"

sys.path.insert(0, str(ROOT))
from llmfit.calibration import Measurement, measurements, predict_tps  # noqa: E402
from llmfit.estimate import (GPU_GROUPS, Efficiency, attended_tokens,  # noqa: E402
                             quant_family)
from llmfit.gpus import GENERATION_GROUPS, gpu_generation  # noqa: E402
from calibrate_prefill import HEADER as PREFILL_HEADER, prefill_table_rows  # noqa: E402
from calibrate_quants import HEADER as QUANTS_HEADER, quant_rows  # noqa: E402
from calibrate_io import (ACCURACY_HEADER, DEVICES_HEADER, EFFICIENCY_HEADER,  # noqa: E402
                          GENERATIONS_HEADER, KERNELS_HEADER, write_csv)


# ---- decode speed -----------------------------------------------------------------------------
CLASSES = ("gpu", "cpu", "cpu_spec", "apple", "datacenter", "pascal")  # gpu first: others borrow
# Which backend groups each class's rows may fall in (a GPU's rows by the backend they ran on).
CLASS_GROUPS = {"gpu": GPU_GROUPS, "datacenter": GPU_GROUPS, "pascal": ("cuda",), "cpu": ("cpu",),
                "cpu_spec": ("cpu",), "apple": ("metal",)}
GROUPS = ("cpu", "metal") + GPU_GROUPS
EVAL_GROUPS = ("CPU", "NVIDIA", "AMD", "Apple", "MoE")
ITERATIONS = 8
# Without deep rows: what a typical cache costs to stream (K and V, 8 heads x 128, f16) per
# attended token-layer, the bandwidth-bound case.
DEFAULT_DEPTH_BYTES = 2 * 8 * 128 * 2
MIN_CLASS_ROWS = 3  # fewer rows: fit e alone, with the t_layer of `gpu`; none: borrow both


@dataclass
class Constants:
    """Everything the speed model fits: per class (e, t_layer); per backend group (cpu, metal,
    cuda, rocm, vulkan) the kernel factors, the MoE cost (per MoE layer, as a multiple of the
    class's t_layer) and the depth factor; per device and backend group the residual factors of
    devices with several rows."""

    e: dict[str, float]
    t_layer: dict[str, float]
    kernels: dict[str, dict[str, float]]
    moe: dict[str, float]
    depth: dict[str, float]
    devices: dict[tuple[str, str, str], float] = field(default_factory=dict)
    generations: dict[tuple[str, str, str, str], float] = field(default_factory=dict)

    def efficiency(self, cls: str, group: str, device: str | None = None) -> Efficiency:
        gen = gpu_generation(device or "")
        own = {f: k for (g_, c_, grp, f), k in self.generations.items()
               if g_ == gen and c_ == cls and grp == group}
        own.update({f: k for (d, g, f), k in self.devices.items() if d == device and g == group})
        return Efficiency(cls, self.e[cls], self.t_layer[cls] * 1e3, True,
                          self.moe[group] * self.t_layer[cls] * 1e3,
                          self.depth[group], kernels=tuple(self.kernels[group].items()),
                          device=tuple(own.items()), group=group)

    def for_row(self, m: Measurement) -> Efficiency:
        return self.efficiency(m.device_class, m.group, m.device_key)


def _device(m: Measurement, c: Constants) -> float:
    """The row's device factor: its card's own, else its card's generation's, else 1."""
    family = quant_family(m.quant)
    if (own := c.devices.get((m.device_key or "", m.group, family))) is not None:
        return own
    gen = gpu_generation(m.device_key or "")
    return c.generations.get((gen, m.device_class, m.group, family), 1.0) if gen else 1.0


def _mem_seconds(m: Measurement, c: Constants) -> float:
    """Seconds per token of weights + KV, before dividing by e (i.e. at e = 1)."""
    group = m.group
    k = c.kernels[group].get(quant_family(m.quant), 1.0) * _device(m, c)
    kv = attended_tokens(m.model.arch, m.depth) * c.depth[group]
    return (m.weights.read_per_token / k + kv) / (m.bandwidth_gbps * 1e9)


def _moe_layers(m: Measurement) -> int:
    return m.model.arch.moe_layers if m.model.is_moe else 0


def _moe_seconds(m: Measurement, c: Constants) -> float:
    """Seconds per token of the MoE layers' fixed costs: k_moe per-layer costs of the row's
    class each. Relative, because what an MoE layer adds (router, top-k, gathering experts,
    many small matmuls) is fixed work like a layer's own, and scales with the same machine: one
    absolute time per MoE layer on CPUs was 4x apart between this project's 2-core VM and a
    16-thread desktop."""
    return _moe_layers(m) * c.moe[m.group] * c.t_layer.get(m.device_class, 0.0)


def _fit_line(points: list[tuple[float, float, float]]) -> tuple[float, float]:
    """y = a x + b L by least squares on relative error; returns (1/a, b), b >= 0."""
    w = [1 / y**2 for _, _, y in points]
    sxx = sum(wi * x * x for wi, (x, _, _) in zip(w, points))
    sll = sum(wi * n * n for wi, (_, n, _) in zip(w, points))
    sxl = sum(wi * x * n for wi, (x, n, _) in zip(w, points))
    sxy = sum(wi * x * y for wi, (x, _, y) in zip(w, points))
    sly = sum(wi * n * y for wi, (_, n, y) in zip(w, points))
    det = sxx * sll - sxl * sxl
    a, b = ((sll * sxy - sxl * sly) / det, (sxx * sly - sxl * sxy) / det) if det > 0 else (0, -1)
    if b < 0 or a <= 0:
        a, b = sxy / sxx, 0.0
    return 1 / a, b


def _fit_e(points: list[tuple[float, float, float]], t_layer: float) -> float:
    """e alone (t_layer fixed), least squares on relative error."""
    w = [1 / y**2 for _, _, y in points]
    num = sum(wi * x * x for wi, (x, _, _) in zip(w, points))
    den = sum(wi * x * (y - n * t_layer) for wi, (x, n, y) in zip(w, points))
    return num / den if den > 0 else 1.0


def _ratio(m: Measurement, c: Constants, part: str) -> float | None:
    """What a row implies for `part` given the other constants: the kernel or device factor,
    the depth factor, or the MoE cost per MoE layer (in t_layer of the class; may be negative)."""
    cls, group = m.device_class, m.group
    e, tl = c.e[cls], c.t_layer[cls]
    k = c.kernels[group].get(quant_family(m.quant), 1.0)
    if part != "device":
        k *= _device(m, c)
    read = m.weights.read_per_token / (m.bandwidth_gbps * 1e9)
    kv = attended_tokens(m.model.arch, m.depth) / (m.bandwidth_gbps * 1e9)
    left = 1 / m.tps - m.layers * tl  # seconds the memory side and the MoE layers took
    if part == "moe":
        seconds = (left - (read / k + kv * c.depth[group]) / e) / _moe_layers(m)
        return seconds / tl if tl > 0 else None
    left -= _moe_seconds(m, c)
    if left <= 0:
        return None
    if part == "depth":
        return max((left * e - read / k) / kv, 0.0) if kv else None
    if left * e <= kv * c.depth[group]:
        return None
    implied = read / (left * e - kv * c.depth[group])  # = k (* device)
    return implied / {"kernel": 1.0, "device": k}[part]


def fit(rows: list[Measurement]) -> Constants:
    """Alternate: class lines, then kernel, MoE and depth factors from the rows' residuals."""
    c = Constants({}, {}, {g: {} for g in GROUPS}, {g: 0.0 for g in GROUPS},
                  {g: DEFAULT_DEPTH_BYTES for g in GROUPS})
    for _ in range(ITERATIONS):
        for cls in CLASSES:
            # Rows measured deep in the KV cache only inform the depth factor, and MoE rows only
            # the MoE cost: e and t_layer come from dense rows (all rows if too few are dense).
            own = [m for m in rows if m.device_class == cls and m.depth < 1024]
            dense = [m for m in own if not m.model.is_moe]
            own = dense if len(dense) >= MIN_CLASS_ROWS else own
            pts = [(_mem_seconds(m, c), m.layers, 1 / m.tps - _moe_seconds(m, c)) for m in own]
            pts = [p for p in pts if p[2] > 0]
            if len(own) >= MIN_CLASS_ROWS:
                c.e[cls], c.t_layer[cls] = _fit_line(pts)
            elif own and "gpu" in c.t_layer:
                c.t_layer[cls] = c.t_layer["gpu"]
                c.e[cls] = _fit_e(pts, c.t_layer[cls])
        for cls in CLASSES:
            c.e.setdefault(cls, c.e["gpu"])
            c.t_layer.setdefault(cls, c.t_layer["gpu"])
        for group in GROUPS:
            mine = [m for m in rows if m.group == group]
            dense = {quant_family(m.quant) for m in mine if not m.model.is_moe}
            for family in dense - {"legacy"}:
                ratios = [r for m in mine if quant_family(m.quant) == family and not m.model.is_moe
                          and m.depth < 256 and (r := _ratio(m, c, "kernel")) is not None]
                if ratios:
                    c.kernels[group][family] = statistics.median(ratios)
            # The MoE cost from MoE rows of quant types also seen dense; then the kernel factor
            # of types only MoE models use (MXFP4) from their rows, given the MoE cost.
            ratios = [r for m in mine if m.model.is_moe and m.depth < 256
                      and quant_family(m.quant) in dense | {"legacy"}
                      and (r := _ratio(m, c, "moe")) is not None]
            c.moe[group] = max(statistics.median(ratios), 0.0) if ratios else 0.0
            for family in {quant_family(m.quant) for m in mine} - dense - {"legacy"}:
                ratios = [r for m in mine if quant_family(m.quant) == family and m.depth < 256
                          and (r := _ratio(m, c, "kernel")) is not None]
                if ratios:
                    c.kernels[group][family] = statistics.median(ratios)
            deep = [r for m in mine if m.depth >= 1024 and (r := _ratio(m, c, "depth")) is not None]
            c.depth[group] = statistics.median(deep) if deep else DEFAULT_DEPTH_BYTES
        c.devices = _device_factors(rows, c)
        c.generations = _generation_factors(rows, c)
    return c


MIN_DEVICE_ROWS = 2


def _device_factors(rows: list[Measurement], c: Constants) -> dict[tuple[str, str, str], float]:
    """Per (device, backend group, quant family) with at least MIN_DEVICE_ROWS rows: the median
    residual of its dense rows, or of its MoE rows where it has no dense one. A device factor is
    how well the device streams weights, which dense rows show directly; an MoE row's residual
    also carries its build's MoE cost (an October 2025 Qwen3-30B run made an RTX 4090 look
    slower than an RTX 3090 at dense Q8_0)."""
    keys: dict[tuple[str, str, str], list[tuple[float, bool]]] = {}
    for m in rows:
        if m.device_key and m.depth < 1024 and (r := _ratio(m, c, "device")) is not None:
            keys.setdefault((m.device_key, m.group, quant_family(m.quant)), []).append(
                (r, m.model.is_moe))
    out = {}
    for key, found in keys.items():
        if len(found) >= MIN_DEVICE_ROWS:
            dense = [r for r, moe in found if not moe]
            out[key] = statistics.median(dense or [r for r, _ in found])
    return out


def _generation_factors(rows: list[Measurement],
                        c: Constants) -> dict[tuple[str, str, str, str], float]:
    """Per (GPU generation, device class, backend group, quant family): the median residual of
    the dense rows of that generation's cards. A card without a factor of its own for a family
    takes its generation's: two RDNA3 cards stream K-quants on ROCm at about 60% of the share of
    their bandwidth that the Strix Halo rows, which also set the ROCm kernel factor, reach."""
    found: dict[tuple[str, str, str, str], list[float]] = {}
    for m in rows:
        gen = gpu_generation(m.device_key or "")
        if (gen and m.group in GENERATION_GROUPS and m.depth < 1024 and not m.model.is_moe
                and (r := _ratio(m, c, "device")) is not None):
            found.setdefault((gen, m.device_class, m.group, quant_family(m.quant)), []).append(r)
    return {key: statistics.median(found[key]) for key in found}


def errors(rows: list[Measurement], c: Constants) -> list[float]:
    return [predict_tps(m, c.for_row(m)) / m.tps - 1 for m in rows]


def leave_one_out(rows: list[Measurement]) -> list[float]:
    """Each row predicted by constants fitted without it."""
    out = []
    for i, m in enumerate(rows):
        c = fit(rows[:i] + rows[i + 1:])
        out.append(predict_tps(m, c.for_row(m)) / m.tps - 1)
    return out


def summary(rows: list[Measurement], errs: list[float], where) -> tuple[int, float, float]:
    picked = [abs(e) for m, e in zip(rows, errs) if where(m)]
    if not picked:
        return 0, 0.0, 0.0
    return len(picked), statistics.median(picked), max(picked)


def efficiency_rows(rows: list[Measurement], c: Constants,
                    loo: list[float]) -> list[dict[str, object]]:
    """The rows of llmfit/data/efficiency.csv: one per device class and backend group. The
    held-out error is that of the pair's dense rows, else of the group's, else of the class's;
    that of the group's MoE rows beside it."""
    out: list[dict[str, object]] = []
    for cls in CLASSES:
        own = sum(m.device_class == cls for m in rows)
        source = (f"fitted on {own} rows of tests/data" if own >= MIN_CLASS_ROWS else
                  f"fitted e on {own} rows of tests/data, t_layer of gpu" if own else
                  "borrowed from gpu (no rows of its own)")
        for group in CLASS_GROUPS[cls]:
            # Dense rows here; mixtures of experts have their own columns below.
            n, med, worst = summary(rows, loo, lambda m: m.device_class == cls
                                    and m.group == group and not m.model.is_moe)
            if not n:
                n, med, worst = summary(rows, loo, lambda m: m.group == group
                                        and not m.model.is_moe)
            if not n:
                n, med, worst = summary(rows, loo, lambda m: m.device_class == cls)
            # Mixtures of experts on this backend group, whatever their class.
            moe_n, moe_med, moe_worst = summary(
                rows, loo, lambda m: m.model.is_moe and m.group == group)
            out.append({"device_class": cls, "backend_group": group, "e_max": round(c.e[cls], 4),
                        "t_layer_ms": round(c.t_layer[cls] * 1e3, 4),
                        "moe_layer_ms": round(c.moe[group] * c.t_layer[cls] * 1e3, 4),
                        "depth_factor": round(c.depth[group], 4),
                        "rows": n, "loo_median_pct": round(med * 100, 1),
                        "loo_max_pct": round(worst * 100, 1), "moe_rows": moe_n,
                        "moe_loo_median_pct": round(moe_med * 100, 1),
                        "moe_loo_max_pct": round(moe_worst * 100, 1), "source": source})
    return out


def kernel_rows(rows: list[Measurement], c: Constants) -> list[dict[str, object]]:
    """The rows of llmfit/data/kernels.csv."""
    out: list[dict[str, object]] = []
    for group in sorted(c.kernels):
        for family, factor in sorted(c.kernels[group].items()):
            n = sum(m.group == group and quant_family(m.quant) == family for m in rows)
            out.append({"backend_group": group, "quant_family": family, "factor": round(factor, 4),
                        "rows": n, "source": f"median of {n} rows of tests/data"})
    return out


def device_rows(rows: list[Measurement], c: Constants) -> list[dict[str, object]]:
    """The rows of llmfit/data/devices.csv."""
    out: list[dict[str, object]] = []
    for (device, group, family), factor in sorted(c.devices.items()):
        own = [m for m in rows if m.device_key == device and m.group == group
               and quant_family(m.quant) == family and m.depth < 1024]
        dense = sum(not m.model.is_moe for m in own)
        which = f"its {dense} dense" if dense else f"its {len(own)} MoE"
        out.append({"device": device, "backend_group": group, "quant_family": family,
                    "factor": round(factor, 4), "rows": len(own),
                    "source": f"median residual of {which} rows of tests/data"})
    return out


def generation_rows(rows: list[Measurement], c: Constants) -> list[dict[str, object]]:
    """The rows of llmfit/data/generations.csv."""
    out: list[dict[str, object]] = []
    for (gen, cls, group, family), factor in sorted(c.generations.items()):
        cards = sorted({m.device_key for m in rows if m.device_key and m.group == group
                        and gpu_generation(m.device_key) == gen and m.device_class == cls
                        and quant_family(m.quant) == family and m.depth < 1024
                        and not m.model.is_moe})
        out.append({"generation": gen, "device_class": cls, "backend_group": group,
                    "quant_family": family, "factor": round(factor, 4),
                    "source": "median residual of the dense rows of " + " + ".join(cards)})
    return out


def accuracy_rows(rows: list[Measurement], inside: list[float],
                  loo: list[float]) -> list[dict[str, object]]:
    """In-sample and leave-one-out error per evaluation group (llmfit/data/accuracy.csv)."""
    out: list[dict[str, object]] = []
    for group in EVAL_GROUPS:
        n, med, worst = summary(rows, inside, lambda m: group in m.groups)
        _, lmed, lworst = summary(rows, loo, lambda m: group in m.groups)
        out.append({"group": group, "rows": n, "in_median_pct": round(med * 100, 1),
                    "in_max_pct": round(worst * 100, 1), "loo_median_pct": round(lmed * 100, 1),
                    "loo_max_pct": round(lworst * 100, 1)})
    return out


def tables() -> dict[str, tuple[list[dict[str, object]], str]]:
    """Every generated table with its header, by file name."""
    rows, _ = measurements()
    c = fit(rows)
    loo = leave_one_out(rows)
    return {"quants.csv": (quant_rows(), QUANTS_HEADER),
            "efficiency.csv": (efficiency_rows(rows, c, loo), EFFICIENCY_HEADER),
            "kernels.csv": (kernel_rows(rows, c), KERNELS_HEADER),
            "devices.csv": (device_rows(rows, c), DEVICES_HEADER),
            "generations.csv": (generation_rows(rows, c), GENERATIONS_HEADER),
            "accuracy.csv": (accuracy_rows(rows, errors(rows, c), loo), ACCURACY_HEADER),
            "prefill.csv": (prefill_table_rows(), PREFILL_HEADER)}


def main(argv: list[str]) -> int:
    rows, skipped = measurements()
    print(f"{len(rows)} speed rows; {len(skipped)} skipped")
    for line in skipped:
        print("  skipped:", line)
    generated = tables()
    for name, (table, _) in generated.items():
        print(f"\n{name}")
        for row in table:
            print("  ", row)
    if "--write" in argv:
        for name, (table, header) in generated.items():
            write_csv(OUT / name, table, header)
        print("wrote", ", ".join(generated))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
