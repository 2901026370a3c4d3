"""Measured decode speeds (tests/data/) beside llmfit's estimates of them.

Used by scripts/calibrate.py (which fits the constants), the accuracy benchmark and the tests;
nothing at run time. Each measurement is resolved to a catalog model's architecture, so the
bytes read per token come from the same code that sizes every row.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from llmfit.architecture import Architecture
from llmfit.catalog import ModelSpec, builtin_catalog_path, read_catalog_file
from llmfit.estimate import (GIB, Efficiency, WeightBytes, attended_tokens, backend_group,
                             decode_seconds, device_class,
                             depth_seconds,
                             layer_overhead_seconds, moe_overhead_seconds, quant_table,
                             weight_bytes)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SPEED_FILES = ("calibration.csv", "speed-published.csv", "cpu-measured.csv")
TG_DEPTH = 64  # tg128: on average 64 tokens sit in the KV cache

# Model names as measurement sources write them -> catalog rows with the same architecture.
MODEL_ALIASES = {
    "llama-2-7b": "meta-llama/Llama-2-7b-chat-hf", "llama-3-8b": "meta-llama/Meta-Llama-3-8B-Instruct",
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B-Instruct",
    "llama-2-70b": "meta-llama/Llama-2-70b-chat-hf",
    "llama-3-70b": "meta-llama/Meta-Llama-3-70B-Instruct",
    "llama-3.3-70b": "meta-llama/Llama-3.3-70B-Instruct",
    "llama-3.1-70b": "meta-llama/Llama-3.1-70B-Instruct",
    "llama-3.2-1b": "meta-llama/Llama-3.2-1B-Instruct", "llama-3.2-3b": "meta-llama/Llama-3.2-3B-Instruct",
    "llama-4-scout-17b-16e": "meta-llama/Llama-4-Scout-17B-16E-Instruct",
    "gpt-oss-20b": "openai/gpt-oss-20b", "gpt-oss-120b": "openai/gpt-oss-120b",
    "qwen3-30b-a3b": "Qwen/Qwen3-30B-A3B", "qwen3-coder-30b-a3b": "Qwen/Qwen3-Coder-30B-A3B-Instruct",
    "qwen3-235b-a22b": "Qwen/Qwen3-235B-A22B", "qwen3-32b": "Qwen/Qwen3-32B",
    "qwen3-14b": "Qwen/Qwen3-14B", "qwen3-8b": "Qwen/Qwen3-8B", "qwen3-4b": "Qwen/Qwen3-4B",
    "qwen3-1.7b": "Qwen/Qwen3-1.7B", "qwen3-0.6b": "Qwen/Qwen3-0.6B",
    "qwen2.5-0.5b": "Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5-1.5b": "Qwen/Qwen2.5-1.5B-Instruct",
    "qwen2.5-3b": "Qwen/Qwen2.5-3B-Instruct", "qwen2.5-7b": "Qwen/Qwen2.5-7B-Instruct",
    "qwen2.5-14b": "Qwen/Qwen2.5-14B-Instruct", "qwen2.5-32b": "Qwen/Qwen2.5-32B-Instruct",
    "qwen2.5-72b": "Qwen/Qwen2.5-72B-Instruct", "qwen2.5-coder-7b": "Qwen/Qwen2.5-Coder-7B-Instruct",
    "qwen2.5-coder-32b": "Qwen/Qwen2.5-Coder-32B-Instruct",
    "hunyuan-a13b": "tencent/Hunyuan-A13B-Instruct", "glm-4.5-air": "zai-org/GLM-4.5-Air",
    "gemma-3-4b": "google/gemma-3-4b-it", "gemma-3-12b": "google/gemma-3-12b-it",
    "gemma-3-27b": "google/gemma-3-27b-it", "gemma-4-26b-a4b": "google/gemma-4-26B-A4B-it",
    "qwen3.6-35b-a3b": "Qwen/Qwen3.6-35B-A3B", "mistral-7b": "mistralai/Mistral-7B-Instruct-v0.3",
    "mixtral-8x7b": "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "deepseek-v2-lite": "deepseek-ai/DeepSeek-V2-Lite-Chat", "olmoe-1b-7b": "allenai/OLMoE-1B-7B-0924-Instruct",
    "phi-3-mini": "microsoft/Phi-3-mini-4k-instruct", "tinyllama-1.1b": None,
    "phi-4": "microsoft/phi-4", "phi-4-mini-instruct": "microsoft/Phi-4-mini-instruct",
    "deepseek-v3": "deepseek-ai/DeepSeek-V3",
    "deepseek-r1": "deepseek-ai/DeepSeek-R1", "afm-4.5b": "arcee-ai/AFM-4.5B",
}
# Quant names of community files -> the llama.cpp type whose sizes they follow.
QUANT_ALIASES = {"Q4_0_4_8": "Q4_0", "Q4_K_XL": "Q4_K_M", "Q3_K_XL": "Q3_K_M", "Q3_K_S": "Q3_K_M", "Q4_K_S": "Q4_K_M",
                 "Q5_K_S": "Q5_K_M", "Q4_1": "Q4_0", "Q6_K_XL": "Q6_K", "Q8_K_XL": "Q8_0",
                 "Q2_K_XL": "Q2_K", "IQ4_NL": "IQ4_XS"}
# Rows left out of the fit, with the reason (each is a real measurement of something else):
# (text in the device name, model, quant; None for any) -> reason.
EXCLUDED = {
    ("Radeon 8060S", "Qwen3-30B-A3B", "BF16"): "the Vulkan driver has no BF16 support: "
                                                 "compute-bound (the source's note)",
    (None, "gpt-oss-20b", "F16"): "gpt-oss 'F16' file: MXFP4 experts with F16 dense tensors, a "
                                    "mix no llmfit quantization describes",
    ("M2 Max (CPU cores only", None, None): "3-4 threads of a 12-core chip: thread-bound, the "
                                            "chip's bandwidth is not what they stream",
    ("M3 Max (40-core GPU) 48GB", "Llama-2-70B", None): "36.5 GB of weights on a 48 GB Mac: more "
                                                        "than Metal's working set, so not all on "
                                                        "the GPU",
}


@dataclass(frozen=True)
class Measurement:
    """One published or measured decode speed, resolved to an architecture."""

    device: str
    backend: str
    device_class: str
    groups: tuple[str, ...]  # evaluation groups: CPU, NVIDIA, AMD, Apple, MoE
    bandwidth_gbps: float
    model: ModelSpec
    quant: str
    weights: WeightBytes
    depth: int
    tps: float
    source: str
    device_key: str | None = None  # the device table's name for the device, where it has one
    notes: str = ""  # the row's notes: build, flags, date

    @property
    def layers(self) -> int:
        return self.model.arch.layers

    @property
    def group(self) -> str:
        """The backend group whose factors this row informs."""
        return backend_group(self.device_class, self.backend)


@cache
def _catalog() -> dict[str, ModelSpec]:
    return {m.name: m for m in read_catalog_file(builtin_catalog_path())}


def resolve_model(name: str) -> ModelSpec | None:
    """A catalog model for a measurement's model name (catalog names pass through)."""
    if name in _catalog():
        return _catalog()[name]
    key = name.strip().lower().split(" (")[0]
    target = MODEL_ALIASES.get(key)
    return _catalog().get(target) if target else None


def normal_quant(raw: str) -> str | None:
    """The llama.cpp type a community quant name follows, or None if unknown."""
    name = raw.upper().removeprefix("UD-").removeprefix("I1-").strip()
    name = QUANT_ALIASES.get(name, name)
    return name if name.upper() in quant_table() else None


def groups_of(device: str, backend: str, model: ModelSpec) -> tuple[str, ...]:
    """Evaluation groups of a row: the hardware family, and MoE for mixtures of experts."""
    if backend == "CPU":
        group = "CPU"
    elif backend == "Metal":
        group = "Apple"
    elif backend == "CUDA":  # before the name test: a device text may name its AMD host CPU
        group = "NVIDIA"
    elif backend == "ROCm" or re.search(r"\b(AMD|Radeon|Ryzen|MI\d{3})", device):
        group = "AMD"
    else:
        group = "NVIDIA"
    return (group, "MoE") if model.is_moe else (group,)


# Tests other than llama-bench's default tg128 that a row's notes may name; the row's speed is
# the mean over the generated tokens, so its depth is the start depth plus half of them.
OTHER_TESTS = (512, 400, 256, 32)


def _depth(row: dict[str, str]) -> int:
    notes = (row.get("notes") or "").lower()
    generated = next((n for n in OTHER_TESTS if f"tg{n}" in notes), 128)
    return int(float(row.get("depth") or 0)) + generated // 2


def _weights(model: ModelSpec, quant: str, row: dict[str, str]) -> WeightBytes:
    """Bytes per token from the catalog architecture, scaled to the file's real size if given."""
    est = weight_bytes(model.arch, model.params_b, quant_table()[quant.upper()])
    if row.get("file_bytes"):
        real = float(row["file_bytes"])
    elif row.get("weights_gib"):
        real = float(row["weights_gib"]) * GIB
    else:
        return est
    k = real / est.total
    return WeightBytes(est.total * k, est.routed_experts * k, est.active_experts * k,
                       est.read_per_token * k)


def backend_of(row: dict[str, str]) -> str:
    return (row.get("backend") or "").strip()


def _device_key(device: str, backend: str, bandwidth: float) -> str | None:
    if backend == "CPU":
        return None
    from llmfit.gpus import lookup_gpu

    from llmfit.gpus import all_gpus

    found = lookup_gpu(re.sub(r"\(.*?\)|\b\d+\s*GB\b", " ", device).strip())
    if found is None:
        return None
    if found.bandwidth_gbps and abs(found.bandwidth_gbps - bandwidth) > 1:  # 30- vs 40-core M3 Max
        base = found.name.split(" (")[0]
        same = [g for g in all_gpus() if g.name.startswith(base) and g.bandwidth_gbps == bandwidth]
        found = same[0] if same else found
    return found.name


def read_rows(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines))


def measurements(files: tuple[str, ...] = SPEED_FILES) -> tuple[list[Measurement], list[str]]:
    """Every usable speed row, and a line for each row that was skipped and why."""
    out, skipped = [], []
    for file in files:
        path = DATA / file
        if not path.exists():
            continue
        for row in read_rows(path):
            label = f"{file}: {row.get('device')} {row.get('model')} {row.get('quant')}"
            if backend_of(row) == "Vulkan" and "NVIDIA" in row.get("device", ""):
                skipped.append(f"{label}: NVIDIA cards are estimated for llama.cpp's CUDA "
                               "backend; a Vulkan run is another backend's figure")
                continue
            if "ollama" in (row.get("notes") or "").lower():
                skipped.append(f"{label}: an Ollama eval rate, not llama-bench: its own build "
                               "and thread defaults, and the quant of its tag is not stated")
                continue
            if "superseded:" in (row.get("notes") or ""):
                later = row["notes"].split("superseded:", 1)[1].strip()
                skipped.append(f"{label}: superseded by a later run of the same setup: {later}")
                continue
            reason = next((why for (dev, mod, q), why in EXCLUDED.items()
                           if (dev is None or dev in row.get("device", ""))
                           and mod in (None, row.get("model"))
                           and q in (None, row.get("quant"))), None)
            if reason:
                skipped.append(f"{label}: {reason}")
                continue
            model = resolve_model(row.get("model", ""))
            quant = normal_quant(row.get("quant", ""))
            bw = (row.get("memory_bandwidth_gbps") or "").split("-")[-1]
            if model is None or quant is None or not bw or not row.get("tg_tps"):
                skipped.append(f"{label}: unknown model/quant or no bandwidth")
                continue
            backend = row["backend"]
            # CPU rows: bandwidth measured by llmfit's own probe (this project's runs) or the
            # memory's spec sheet (published rows): two classes, each used with its own kind.
            cpu = "cpu" if file == "cpu-measured.csv" else "cpu_spec"
            cls = cpu if backend == "CPU" else device_class(row["device"], backend)
            out.append(Measurement(row["device"], backend, cls,
                                   groups_of(row["device"], backend, model), float(bw), model,
                                   quant, _weights(model, quant, row), _depth(row),
                                   float(row["tg_tps"]), row.get("source") or file,
                                   _device_key(row["device"], backend, float(bw)),
                                   row.get("notes") or f"{row.get('build') or ''} {row.get('flags') or ''}".strip()))
    return out, skipped


def predict_tps(m: Measurement, eff: Efficiency) -> float:
    """llmfit's decode estimate for a measurement, with the given class constants."""
    seconds = decode_seconds(m.weights.read_per_token, m.bandwidth_gbps, eff, m.quant)
    seconds += depth_seconds(attended_tokens(m.model.arch, m.depth), m.bandwidth_gbps, eff)
    seconds += layer_overhead_seconds(m.layers, eff)
    seconds += moe_overhead_seconds(m.model.arch, eff)
    return 1.0 / seconds


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


# The two reference models of gguf-sizes.csv, from their config.json.
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


def read_reference_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a measurement file, skipping its '#' comment lines."""
    return read_rows(path)


def size_comparisons(rows: list[dict[str, str]]) -> list[Comparison]:
    """Weight-file size estimates against gguf-sizes.csv."""
    out = []
    for row in rows:
        arch, params_b = REFERENCE_MODELS[row["model"]]
        size = weight_bytes(arch, params_b, quant_table()[row["quant"].upper()]).total / GIB
        out.append(Comparison(f"{row['model']} {row['quant']}", float(row["file_gib"]), size))
    return out
