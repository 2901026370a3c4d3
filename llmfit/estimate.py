"""Pure estimates for one model, one quantization, one context: bytes and decode speed.

Weights: bits per weight by tensor group from `data/quants.csv` (fitted to real GGUF files).
KV cache: exact per architecture (GQA, MLA, sliding windows, hybrids), per element type (kv_cache.py).
Speed: decode reads every active weight once per token, so
    t_token = bytes_read / (e_max * k_quant * bandwidth) + layers * t_layer
              + moe_layers * t_moe + attended(depth) * k_depth / (e_max * bandwidth)
with (e_max, t_layer) per device class, t_moe = k_moe * t_layer with k_moe per backend group,
and k_depth per backend group (cpu, metal, cuda, rocm, vulkan) from `data/efficiency.csv` and the quant kernel factors k_quant per backend group
from `data/kernels.csv`, all fitted by scripts/calibrate.py on published and measured llama.cpp
results (tests/data/).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

from llmfit.architecture import Architecture, kv_elements_per_token
from llmfit.kv_cache import FP16, KvCache

GIB = 2**30
DEVICE_RESERVE_GIB = {"CUDA": 457 / 1024, "ROCm": 457 / 1024, "Metal": 0.5}  # Ollama's minimums
DEFAULT_RESERVE_GIB = 0.25  # SYCL/Vulkan: not published; a quarter GiB
MICRO_BATCH = 512  # llama.cpp's default n_ubatch: rows of the compute buffer
# Where the CPU bandwidth is not measured (LLMFIT_NO_MEASURE, what-if machines), decode streams
# the memory's peak (cpu_spec constants), capped by what a few cores can pull: about this much
# per core (GB/s) on current desktop parts; the probe measured 35-40 on this project's VMs.
CPU_CORE_STREAM_GBPS = 25.0
DEFAULT_DDR_GBPS = 51.2  # dual-channel DDR4-3200 peak (estimation.md), when nothing is known
_DATACENTER = re.compile(r"\b(A100|A800|H100|H800|H200|GH200|B100|B200|GB200|V100|P100|MI\d{3}X?)\b",
                         re.IGNORECASE)
# NVIDIA's Pascal (GTX 10xx, Tesla P4/P40, Quadro P) and older consumer/workstation parts.
_PASCAL = re.compile(r"\b(GTX\s*(9\d\d|10\d\d)|TITAN\s*Xp?|Tesla\s*(P4|P6|P40|M\d+|K\d+)|"
                     r"Quadro\s*[PMK]\d+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Quant:
    """Bits per weight of one quantization, by tensor group."""

    name: str
    runtime: str  # "llamacpp", "mlx", "vllm" or "any"
    body_bpw: float  # expert / MLP / attention matrices
    embed_bpw: float  # token embedding
    output_bpw: float  # output (LM head)
    dense_bpw: float  # non-expert matrices of MoE models (MXFP4 keeps them at Q8_0)
    quality_penalty: int


@dataclass(frozen=True)
class Efficiency:
    """Decode-speed constants of a device class, with the held-out error of its calibration."""

    device_class: str
    e_max: float
    t_layer_ms: float
    calibrated: bool
    moe_layer_ms: float = 0.0  # per MoE layer and token: routing, expert gather, small matmuls
    depth_factor: float = 1.0  # attention over a filled KV cache costs this x its bytes
    rows: int = 0
    loo_median: float = 0.0  # leave-one-out median |relative error|
    loo_max: float = 0.0
    kernels: tuple[tuple[str, float], ...] = ()  # (quant family, speed factor vs legacy types)
    device: tuple[tuple[str, float], ...] = ()  # this device's own factors by quant family
    local_factor: float = 1.0  # measured / estimated on this very machine (`llmfit bench`)
    group: str = ""  # backend group whose kernels, MoE and depth factors these are
    moe_rows: int = 0  # MoE rows of this backend group, and their leave-one-out error
    moe_loo_median: float = 0.0
    moe_loo_max: float = 0.0

    def kernel(self, quant: str) -> float:
        """How fast a quant type's kernels stream relative to the legacy types here, with the
        device's own factor where measurements of it exist."""
        family = quant_family(quant)
        own = dict(self.device)
        return dict(self.kernels).get(family, 1.0) * own.get(family, own.get("*", 1.0))


def _read_data(name: str) -> list[dict[str, str]]:
    text = resources.files("llmfit").joinpath("data", name).read_text()
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


@cache
def quant_table() -> dict[str, Quant]:
    """Every quantization llmfit knows, by upper-case name."""
    table = {}
    for row in _read_data("quants.csv"):
        quant = Quant(row["quant"], row["runtime"], float(row["body_bpw"]),
                      float(row["embed_bpw"]), float(row["output_bpw"]),
                      float(row["dense_bpw"]), int(row["quality_penalty"]))
        table[quant.name.upper()] = quant
    return table


# llama.cpp's GPU backends differ in their kernels: the same Radeon runs MoE models 15-40% faster
# on Vulkan than on ROCm (tests/data/speed-published.csv), so each has its own factors. SYCL has
# no calibration rows and uses CUDA's.
GPU_GROUPS = ("cuda", "rocm", "vulkan")
_DEFAULT_GROUP = {"cpu": "cpu", "cpu_spec": "cpu", "apple": "metal"}


def backend_group(device_class: str, backend: str | None) -> str:
    """The backend group (cpu, metal, cuda, rocm, vulkan) whose factors a device's rows use."""
    if device_class in _DEFAULT_GROUP:
        return _DEFAULT_GROUP[device_class]
    return {"ROCm": "rocm", "Vulkan": "vulkan"}.get(backend or "", "cuda")


@cache
def _efficiency_rows() -> dict[tuple[str, str], Efficiency]:
    kernels: dict[str, list[tuple[str, float]]] = {}
    for row in _read_data("kernels.csv"):
        kernels.setdefault(row["backend_group"], []).append((row["quant_family"], float(row["factor"])))
    table = {}
    for row in _read_data("efficiency.csv"):
        cls, group = row["device_class"], row["backend_group"]
        table[cls, group] = Efficiency(
            cls, float(row["e_max"]), float(row["t_layer_ms"]), row["source"].startswith("fitted"),
            float(row["moe_layer_ms"]), float(row["depth_factor"]), int(row["rows"]),
            float(row["loo_median_pct"]) / 100, float(row["loo_max_pct"]) / 100,
            tuple(kernels.get(group, ())), group=group, moe_rows=int(row["moe_rows"]),
            moe_loo_median=float(row["moe_loo_median_pct"]) / 100,
            moe_loo_max=float(row["moe_loo_max_pct"]) / 100)
    return table


@cache
def efficiency_table() -> dict[str, Efficiency]:
    """Decode constants by device class (apple, gpu, datacenter, cpu, cpu_spec) for the class's
    default backend (GPUs: CUDA), with kernel factors."""
    return {cls: eff for (cls, group), eff in _efficiency_rows().items()
            if group == backend_group(cls, "CUDA")}


def efficiency_for(device_class: str, backend: str | None) -> Efficiency:
    """Decode constants of a device class on a backend (ROCm and Vulkan have their own)."""
    rows = _efficiency_rows()
    return rows.get((device_class, backend_group(device_class, backend)),
                    efficiency_table()[device_class])


@cache
def device_factor_table() -> dict[tuple[str, str], tuple[tuple[str, float], ...]]:
    """Per-device factors (data/devices.csv) by the device table's name and backend group."""
    table: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for row in _read_data("devices.csv"):
        key = (row["device"], row["backend_group"])
        table.setdefault(key, []).append((row["quant_family"], float(row["factor"])))
    return {k: tuple(v) for k, v in table.items()}


@cache
def generation_factor_table() -> dict[tuple[str, str, str], tuple[tuple[str, float], ...]]:
    """Per-generation factors (data/generations.csv) by generation, device class and backend
    group: what a card without measurements of its own borrows from its generation's."""
    table: dict[tuple[str, str, str], list[tuple[str, float]]] = {}
    for row in _read_data("generations.csv"):
        key = (row["generation"], row["device_class"], row["backend_group"])
        table.setdefault(key, []).append((row["quant_family"], float(row["factor"])))
    return {k: tuple(v) for k, v in table.items()}


def for_device(eff: Efficiency, gpu_name: str) -> Efficiency:
    """The class constants with the factors measured on this very device and backend, else
    those of its generation (an RX 7800 XT on ROCm: the RDNA3 cards'), where there are any."""
    from dataclasses import replace

    from llmfit.gpus import gpu_generation, lookup_gpu

    model = lookup_gpu(gpu_name)
    if model is None:
        return eff
    gen = gpu_generation(model.name)
    factors = dict(generation_factor_table().get((gen or "", eff.device_class, eff.group), ()))
    factors.update(device_factor_table().get((model.name, eff.group), ()))
    return replace(eff, device=tuple(factors.items())) if factors else eff


@cache
def _repack_table() -> dict[tuple[str, str], float]:
    return {(r["cpu_arch"], r["quant"].upper()): float(r["share"]) for r in _read_data("repack.csv")}


def repack_share(cpu_arch: str, quant: str) -> float:
    """Share of the weight bytes llama.cpp's CPU backend copies into a repacked layout at load
    (data/repack.csv); 0 where the type is not repacked on this CPU."""
    arch = "arm64" if cpu_arch in ("arm64", "aarch64") else "x86_64"
    return _repack_table().get((arch, quant.upper()), 0.0)


def quant_family(quant: str) -> str:
    """legacy (Q4_0, Q8_0 ...), kquant, iquant, mxfp4, float, or the runtime's own (mlx, vllm)."""
    name = quant.upper()
    if name.startswith("MLX"):
        return "mlx"
    if name in ("FP8", "AWQ", "GPTQ"):
        return "vllm"
    if name.startswith("IQ"):
        return "iquant"
    if "_K" in name:
        return "kquant"
    if name.startswith("MXFP4"):
        return "mxfp4"
    if name in ("F16", "BF16", "F32"):
        return "float"
    return "legacy"


def device_class(gpu_name: str, backend: str) -> str:
    """Calibration class of a GPU: Apple, HBM datacenter part, NVIDIA Pascal or older (no
    tensor cores: llama.cpp streams ~55% of their bandwidth where newer cards reach ~85%), or
    other GPU."""
    if backend == "Metal":
        return "apple"
    if _DATACENTER.search(gpu_name):
        return "datacenter"
    return "pascal" if _PASCAL.search(gpu_name) else "gpu"


@dataclass(frozen=True)
class WeightBytes:
    """Weight bytes of a model at one quantization, split the ways placement needs."""

    total: float
    routed_experts: float  # MoE routed experts (what moe_offload keeps in RAM)
    active_experts: float  # routed expert bytes one decoded token reads
    read_per_token: float  # bytes one decoded token reads, active experts included


def parameter_groups(arch: Architecture, params_b: float) -> dict[str, float]:
    """Parameters by tensor group: embed, output, experts, active_experts, body."""
    embed = float(arch.vocab_size * arch.hidden_size)
    output = 0.0 if arch.tied_embeddings else embed
    experts = active = 0.0
    if arch.is_moe:
        per_expert = (3 if arch.mlp == "gated" else 2) * arch.hidden_size * (arch.moe_intermediate_size or 0)
        experts = float(arch.moe_layers * (arch.experts or 0) * per_expert)
        active = float(arch.moe_layers * (arch.experts_per_token or 0) * per_expert)
    body = max(params_b * 1e9 - embed - output - experts, 0.0)
    return {"embed": embed, "output": output, "experts": experts, "active_experts": active,
            "body": body}


# K-quants store rows in super-blocks of 256: a tensor whose rows (ne0, its input width) are not a
# multiple of 256 falls back to another type (tensor_type_fallback in llama.cpp's llama-quant.cpp):
# Q2_K/Q3_K -> Q4_0, Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0. Extra bits per weight of the
# fallback, per file type:
K_FALLBACK_EXTRA_BPW = {"Q2_K": 4.5 - 2.625, "Q3_K_M": 4.5 - 3.4375, "Q4_K_M": 5.5 - 4.5,
                        "Q5_K_M": 6.0 - 5.5, "Q6_K": 8.5 - 6.5625}
# ffn_down has its own recipe: Q4_K_M and Q5_K_M store it as Q6_K in about half the layers
# (use_more_bits), and Q6_K falls back to Q8_0; Q3_K_M mixes Q5_K, Q4_K and Q3_K; Q2_K uses Q3_K.
K_FALLBACK_DOWN_EXTRA_BPW = {"Q2_K": 4.5 - 3.4375, "Q3_K_M": 1.0,
                             "Q4_K_M": (5.5 - 4.5 + 8.5 - 6.5625) / 2,
                             "Q5_K_M": (6.0 - 5.5 + 8.5 - 6.5625) / 2, "Q6_K": 8.5 - 6.5625}
K_OUTPUT_FALLBACK_BPW = 8.5  # Q6_K output / tied embedding -> Q8_0
K_BLOCK = 256


def _odd_extra(parts: dict[str, tuple[int, int]], quant: str) -> float:
    """Extra bits per weight of a tensor group, given {tensor: (weights, input width)}: the
    fallback's extra bits over the weights of tensors whose width is not a multiple of 256."""
    total = sum(n for n, _ in parts.values())
    extra = sum(n * (K_FALLBACK_DOWN_EXTRA_BPW if name == "down" else K_FALLBACK_EXTRA_BPW)[quant]
                for name, (n, width) in parts.items() if width % K_BLOCK)
    return extra / total if total else 0.0


def k_fallback_extra_bpw(arch: Architecture, quant: str) -> tuple[float, float]:
    """(body, experts): extra bits per weight of each group's tensors that K-quants cannot store.
    Tensors reading the hidden state (q, k, v, gate, up) fall back when hidden_size is not a
    multiple of 256; o_proj when heads x head_dim is not; down when its MLP's width is not (Gemma
    4's 704-wide experts, GLM-4.5's 1408, Qwen2.5-72B's 29568)."""
    if quant not in K_FALLBACK_EXTRA_BPW:
        return 0.0, 0.0
    h, q_dim = arch.hidden_size, arch.attention_heads * arch.head_dim
    kv_dim = arch.kv_heads * arch.head_dim
    width = ((arch.shared_expert_intermediate_size or arch.intermediate_size or 0) if arch.is_moe
             else (arch.intermediate_size or 0))
    body = {"qkv": (h * (q_dim + 2 * kv_dim), h), "o": (q_dim * h, q_dim),
            "gate_up": (2 * h * width, h), "down": (width * h, width)}
    if not arch.is_moe:
        return _odd_extra(body, quant), _odd_extra(body, quant)
    expert = arch.moe_intermediate_size or 0
    experts = {"gate_up": (2 * h * expert, h), "down": (expert * h, expert)}
    return _odd_extra(body, quant), _odd_extra(experts, quant)


@lru_cache(maxsize=8192)  # analyses ask for the same (model, quant) a few dozen times
def weight_bytes(arch: Architecture, params_b: float, quant: Quant) -> WeightBytes:
    """Bytes of the weight file(s) at `quant`, and bytes read per decoded token."""
    g = parameter_groups(arch, params_b)
    body_bpw = quant.dense_bpw if arch.is_moe else quant.body_bpw
    expert_bpw = quant.body_bpw
    output_bpw = quant.output_bpw
    body_extra, expert_extra = k_fallback_extra_bpw(arch, quant.name)
    body_bpw += body_extra
    expert_bpw += expert_extra
    if body_extra and arch.hidden_size % K_BLOCK:
        output_bpw = max(output_bpw, K_OUTPUT_FALLBACK_BPW)
    quant = Quant(quant.name, quant.runtime, expert_bpw, quant.embed_bpw, output_bpw,
                  quant.dense_bpw, quant.quality_penalty)
    # A tied embedding doubles as the output matrix, so llama.cpp stores it at the output type.
    embed_bpw = quant.output_bpw if arch.tied_embeddings else quant.embed_bpw
    embed = g["embed"] * embed_bpw / 8
    output = g["output"] * quant.output_bpw / 8
    body = g["body"] * body_bpw / 8
    experts = g["experts"] * quant.body_bpw / 8
    active = g["active_experts"] * quant.body_bpw / 8
    # One row of an untied token embedding is read per token; a tied one is read whole.
    read = body + output + active + (embed if arch.tied_embeddings else 0.0)
    return WeightBytes(total=embed + output + body + experts, routed_experts=experts,
                       active_experts=active, read_per_token=read)


def kv_cache_bytes(arch: Architecture, context: int, kv: KvCache = FP16) -> float:
    """Bytes of KV cache for `context` tokens in each of `kv.sequences` sequences."""
    return float(kv_elements_per_token(arch, context) * kv.bytes_per_element * kv.sequences)


def compute_buffer_bytes(arch: Architecture, context: int) -> float:
    """llama.cpp's compute buffer: f32 logits and attention scores for one micro-batch."""
    scores = arch.attention_heads * context if arch.attention_layers else 0
    return 4.0 * MICRO_BATCH * (arch.vocab_size + 4 * arch.hidden_size + scores / 8)


def runtime_overhead_bytes(arch: Architecture, context: int, backend: str | None) -> float:
    """Compute buffer plus the runtime's fixed per-device reserve (none on CPU)."""
    reserve = 0.0 if backend is None else DEVICE_RESERVE_GIB.get(backend, DEFAULT_RESERVE_GIB)
    return compute_buffer_bytes(arch, context) + reserve * GIB


def cpu_stream_gbps(ram_bandwidth_gbps: float | None, cpu_cores: int,
                    measured_gbps: float | None = None) -> float:
    """Memory bandwidth the CPU cores can actually stream for decoding: the probe's figure where
    it was measured, else the assumption min(peak, cores x CPU_CORE_STREAM_GBPS)."""
    if measured_gbps:
        return measured_gbps
    peak = ram_bandwidth_gbps or DEFAULT_DDR_GBPS
    return min(peak, cpu_cores * CPU_CORE_STREAM_GBPS)


def decode_seconds(bytes_read: float, bandwidth_gbps: float, eff: Efficiency,
                   quant: str = "Q4_0") -> float:
    """Time to stream `bytes_read` weight bytes once at the device class's efficiency."""
    return bytes_read / (eff.e_max * eff.kernel(quant) * bandwidth_gbps * 1e9)


def attended_tokens(arch: Architecture, depth: int) -> float:
    """Token-layers one decoded token attends over at `depth`: every attention layer reads
    the cache, local layers at most their window."""
    if not arch.attention_layers:
        return 0.0
    local = arch.sliding_window_layers if arch.sliding_window else 0
    full = arch.attention_layers - local
    return float(full * depth + local * min(depth, arch.sliding_window or 0))


def depth_seconds(attended: float, bandwidth_gbps: float, eff: Efficiency) -> float:
    """Extra time per token of attending over `attended` token-layers of filled cache: each
    costs `depth_factor` bytes' worth of streaming (fitted; on CPUs attention is compute-bound,
    so this is far more than the cache's bytes)."""
    return attended * eff.depth_factor / (eff.e_max * bandwidth_gbps * 1e9)


def moe_overhead_seconds(arch: Architecture, eff: Efficiency) -> float:
    """Per-token cost of a mixture of experts beyond its bytes: routing, gathering the chosen
    experts and many small matmuls, per MoE layer. A fixed time rather than a share of the
    streaming: it weighs on fast GPUs (an RTX 5090) and hardly on slow memory (DGX Spark)."""
    return (arch.moe_layers if arch.is_moe else 0) * eff.moe_layer_ms / 1e3


def layer_overhead_seconds(layers: int, eff: Efficiency) -> float:
    """Per-token kernel launch and synchronisation cost of `layers` layers."""
    return layers * eff.t_layer_ms / 1e3
