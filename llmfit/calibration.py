"""Compare llmfit's estimates with published measurements (calibration.csv, gguf-sizes.csv).

Used by the accuracy benchmark (benchmarks/accuracy.py) and the tests; nothing at run time.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from llmfit.architecture import Architecture
from llmfit.estimate import GIB, quant_table, weight_bytes
from llmfit.placement import RunMode, decode_speed, machine_pools, place
from llmfit.values import GpuDevice, SystemSpec

# The two reference models of the measurement files, from their config.json.
REFERENCE_MODELS: dict[str, tuple[Architecture, float]] = {
    "Llama-2-7B": (Architecture(kind="transformer", layers=32, hidden_size=4096,
                                intermediate_size=11008, mlp="gated", attention_heads=32,
                                kv_heads=32, head_dim=128, vocab_size=32000,
                                tied_embeddings=False, attention_layers=32), 6.74),
    "Llama-3-8B": (Architecture(kind="transformer", layers=32, hidden_size=4096,
                                intermediate_size=14336, mlp="gated", attention_heads=32,
                                kv_heads=8, head_dim=128, vocab_size=128256,
                                tied_embeddings=False, attention_layers=32), 8.03),
}
TG_CONTEXT = 64  # tg128 generates 128 tokens: on average 64 sit in the KV cache


@dataclass(frozen=True)
class Comparison:
    """One measured figure beside llmfit's estimate of it."""

    label: str
    measured: float
    estimated: float

    @property
    def error(self) -> float:
        """Relative error of the estimate (+0.10: 10% high)."""
        return self.estimated / self.measured - 1.0


def read_reference_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a measurement file, skipping its '#' comment lines."""
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def size_comparisons(rows: list[dict[str, str]]) -> list[Comparison]:
    """Weight-file size estimates against gguf-sizes.csv."""
    out = []
    for row in rows:
        arch, params_b = REFERENCE_MODELS[row["model"]]
        size = weight_bytes(arch, params_b, quant_table()[row["quant"].upper()]).total / GIB
        out.append(Comparison(f"{row['model']} {row['quant']}", float(row["file_gib"]), size))
    return out


def calibration_system(device: str, backend: str, bandwidth_gbps: float) -> SystemSpec:
    """A machine with just the measured device, its memory ample."""
    gpu = GpuDevice(device, 80.0, 80.0, backend, 1, backend == "Metal", bandwidth_gbps)
    return SystemSpec(total_ram_gib=128.0, available_ram_gib=120.0, cpu_cores=16,
                      cpu_name="calibration", gpus=(gpu,), unified_memory=backend == "Metal")


def speed_comparisons(rows: list[dict[str, str]]) -> list[Comparison]:
    """Decode-speed estimates against calibration.csv (upper bandwidth where a range is given)."""
    out = []
    for row in rows:
        arch, params_b = REFERENCE_MODELS[row["model"]]
        bandwidth = float(row["memory_bandwidth_gbps"].split("-")[-1])
        pools = machine_pools(calibration_system(row["device"], row["backend"], bandwidth))
        weights = weight_bytes(arch, params_b, quant_table()[row["quant"].upper()])
        placed = place(RunMode.GPU, arch, weights, 512, pools)
        assert placed is not None, row["device"]
        tps = decode_speed(placed, arch, weights, TG_CONTEXT, pools).tps
        out.append(Comparison(row["device"], float(row["tg_tps"]), tps or 0.0))
    return out
