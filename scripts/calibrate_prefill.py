"""Prompt-processing calibration: one efficiency per backend from published llama-bench pp512
rows (tests/data/prefill-published.csv), with in-sample and leave-one-out error.

Each row implies efficiency = pp_tps x flops_per_token / peak_flops (llmfit/prefill.py); a
backend's efficiency is the median over its dense-model rows, and a row's held-out error is its
prediction from the median of the other rows of its backend. Mixtures of experts run their
prompt through many small expert matmuls: their rows give one factor on top, per side (row
`moe_gpu` from GPU backends, `moe_cpu` from CPU rows), the median of what they imply over their
backend's dense efficiency. On ROCm and Vulkan a GPU generation with rows of its own (RDNA3,
the Strix Halo APU ...) gets its own efficiency too, the median of its rows (rows `rocm/rdna3`
...), and a row is predicted from the other rows of its generation where there are any.
"""

from __future__ import annotations

import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from llmfit.calibration import read_rows, resolve_model  # noqa: E402
from llmfit.gpus import GENERATION_GROUPS, GpuModel, gpu_generation, lookup_gpu  # noqa: E402
from llmfit.prefill import PP_TOKENS, cpu_tflops, flops_per_token  # noqa: E402

DATA = ROOT / "tests" / "data" / "prefill-published.csv"
BACKENDS = {"CUDA": "cuda", "ROCm": "rocm", "Vulkan": "vulkan", "Metal": "metal", "CPU": "cpu"}
HEADER = ("# Prompt-processing efficiency per backend (share of peak FP16 matrix FLOPs; CPUs: of\n"
          "# cores x 3 GHz x 32 FP32 FLOPs per cycle); rows moe_gpu, moe_cpu: the factor mixtures of\n"
          "# experts reach on top, on a GPU and on CPU cores. Fitted by scripts/calibrate.py from tests/data/prefill-published.csv.\n"
          "# Do not edit by hand.\n")
# Rows whose own source says the figure is limited by something else than the GPU.
EXCLUDED = {"Raspberry Pi": "an eGPU on a Raspberry Pi host (PCIe x1): host-limited, as the "
                            "source says"}


@dataclass(frozen=True)
class PrefillRow:
    device: str
    backend: str
    tflops: float
    flops: float
    pp_tps: float
    moe: bool = False
    generation: str | None = None  # on ROCm and Vulkan: the card's GPU generation

    @property
    def implied(self) -> float:
        return self.pp_tps * self.flops / (self.tflops * 1e12)


def _gpu(row: dict[str, str]) -> GpuModel | None:
    for name in (row["device"], re.sub(r"\s*\(.*\)", "", row["device"])):
        if (gpu := lookup_gpu(name)) is not None:
            return gpu
    return None


def _tflops(row: dict[str, str]) -> float | None:
    if row["backend"] == "CPU":
        return cpu_tflops(int(row["threads"])) if row.get("threads") else None
    gpu = _gpu(row)
    return gpu.fp16_tflops if gpu is not None else None


def prefill_rows() -> tuple[list[PrefillRow], list[str]]:
    """Usable rows, and why the others were left out."""
    out, skipped = [], []
    for row in read_rows(DATA):
        label = f"{row['device']} {row['model']} {row['quant']} ({row['backend']})"
        why = next((reason for key, reason in EXCLUDED.items() if key in row["device"]), None)
        if why:
            skipped.append(f"{label}: {why}")
            continue
        tflops = _tflops(row)
        if not tflops or row["backend"] not in BACKENDS:
            skipped.append(f"{label}: the device's peak FP16 throughput is not in gpus.csv")
            continue
        active = float(row.get("active_params_b") or row["params_b"])
        model = resolve_model(row["model"])
        tokens = int(row.get("pp_tokens") or PP_TOKENS)
        flops = flops_per_token(model.arch, active, tokens) if model else 2 * active * 1e9
        backend, gpu = BACKENDS[row["backend"]], _gpu(row)
        generation = (gpu_generation(gpu.name) if gpu and gpu.backend != "CUDA"
                      and backend in GENERATION_GROUPS else None)
        out.append(PrefillRow(row["device"], backend, tflops, flops, float(row["pp_tps"]),
                              bool(row.get("active_params_b")), generation))
    return out, skipped


def _errors(rows: list[PrefillRow], held_out: bool) -> list[float]:
    """Each row's error, predicted from its generation's rows where there are any (besides
    itself, held out), else from its backend's."""
    errs = []
    for i, row in enumerate(rows):
        peers = [r for j, r in enumerate(rows)
                 if r.backend == row.backend and (j != i or not held_out)]
        same = [r for r in peers if row.generation and r.generation == row.generation]
        if peers:
            errs.append(statistics.median(r.implied for r in same or peers) / row.implied - 1)
    return errs


def moe_factor(rows: list[PrefillRow], cpu: bool) -> tuple[float, list[float]]:
    """The MoE factor of one side (CPU or GPU backends) and each MoE row's implied factor
    (over the dense median of its generation where it has one, else of its backend)."""
    keys = {(r.backend, r.generation) for r in rows if not r.moe}
    keys |= {(b, None) for b, _ in keys}
    dense = {(b, g): statistics.median(r.implied for r in rows if r.backend == b and not r.moe
                                       and (g is None or r.generation == g)) for b, g in keys}
    ratios = [r.implied / dense.get((r.backend, r.generation), dense[(r.backend, None)])
              for r in rows if r.moe and (r.backend, None) in dense and (r.backend == "cpu") == cpu]
    return (statistics.median(ratios) if ratios else 1.0), ratios


def prefill_table_rows() -> list[dict[str, object]]:
    """data/prefill.csv: per backend the efficiency, rows and errors (percent)."""
    rows, _ = prefill_rows()
    out: list[dict[str, object]] = []
    for side, cpu in (("moe_gpu", False), ("moe_cpu", True)):
        factor, ratios = moe_factor(rows, cpu)
        if not ratios:
            continue
        loo = [abs(statistics.median(ratios[:i] + ratios[i + 1:]) / x - 1) if len(ratios) > 1
               else 1.0 for i, x in enumerate(ratios)]
        inside = [abs(factor / x - 1) for x in ratios]
        out.append({"backend": side, "efficiency": round(factor, 4), "rows": len(ratios),
                    "in_median_pct": round(statistics.median(inside) * 100, 1),
                    "loo_median_pct": round(statistics.median(loo) * 100, 1),
                    "loo_max_pct": round(max(loo) * 100, 1),
                    "source": f"median of {len(ratios)} MoE rows over their backend's dense "
                              "efficiency"})
    for backend in BACKENDS.values():
        mine = [r for r in rows if r.backend == backend and not r.moe]
        if not mine:
            continue
        inside = [abs(e) for e in _errors(mine, False)]
        loo = [abs(e) for e in _errors(mine, True)] if len(mine) > 1 else [1.0]
        out.append({"backend": backend,
                    "efficiency": round(statistics.median(r.implied for r in mine), 4),
                    "rows": len(mine), "in_median_pct": round(statistics.median(inside) * 100, 1),
                    "loo_median_pct": round(statistics.median(loo) * 100, 1),
                    "loo_max_pct": round(max(loo) * 100, 1),
                    "source": f"median of {len(mine)} rows of tests/data/prefill-published.csv"})
        held, fitted = _errors(mine, True), _errors(mine, False)
        for gen in sorted({r.generation for r in mine if r.generation}):
            own = [r for r in mine if r.generation == gen]
            errs = [abs(e) for r, e in zip(mine, held) if r.generation == gen]
            out.append({"backend": f"{backend}/{gen}",
                        "efficiency": round(statistics.median(r.implied for r in own), 4),
                        "rows": len(own), "in_median_pct": round(statistics.median(
                            abs(e) for r, e in zip(mine, fitted) if r.generation == gen) * 100, 1),
                        "loo_median_pct": round(statistics.median(errs) * 100, 1),
                        "loo_max_pct": round(max(errs) * 100, 1),
                        "source": f"median of the {len(own)} rows of {gen} cards"})
    return out


if __name__ == "__main__":
    rows, skipped = prefill_rows()
    for line in skipped:
        print("skipped:", line)
    for r in rows:
        print(f"{r.backend:7s} {r.implied:6.3f}  {r.device[:60]}")
    for t in prefill_table_rows():
        print(t)
