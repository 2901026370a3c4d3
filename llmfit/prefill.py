"""Pure: prompt processing (prefill) speed and time to first token, from peak compute and a
fitted efficiency per backend.

Prefill is compute-bound: every prompt token costs 2 FLOPs per active weight plus attention
over the tokens before it, so
    prefill_tps = efficiency x peak_flops / flops_per_token
with peak_flops the device's dense FP16 matrix throughput (data/gpus.csv `fp16_tflops`) or, on
a CPU, cores x CPU_GHZ x CPU_FLOPS_PER_CYCLE, and the efficiency per backend fitted by
scripts/calibrate.py on published llama-bench pp512 results (tests/data/prefill-published.csv,
leave-one-out error in data/prefill.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from llmfit.architecture import Architecture

CPU_GHZ = 3.0  # a typical all-core clock; the fitted CPU efficiency absorbs the difference
CPU_FLOPS_PER_CYCLE = 32  # FP32 FMA: 2 units x 8 lanes x 2 (AVX2; Zen4 AVX-512 is double-pumped)
PP_TOKENS = 512  # what llama-bench's pp512 measures, and the batch the estimate assumes
TTFT_PROMPT_TOKENS = 1024  # `ttft_ms` is for a prompt of this length


@dataclass(frozen=True)
class PrefillEfficiency:
    """Share of peak compute a backend's prompt processing reaches, and how well that is known."""

    backend: str
    efficiency: float
    rows: int
    loo_median: float
    loo_max: float


@cache
def prefill_table() -> dict[str, PrefillEfficiency]:
    """Fitted efficiencies by backend key (cuda, rocm, vulkan, metal, cpu)."""
    from llmfit.estimate import _read_data

    return {r["backend"]: PrefillEfficiency(r["backend"], float(r["efficiency"]), int(r["rows"]),
                                            float(r["loo_median_pct"]) / 100,
                                            float(r["loo_max_pct"]) / 100)
            for r in _read_data("prefill.csv")}


def backend_key(backend: str | None) -> str:
    """The prefill table's key for a GPU backend label (None: the CPU)."""
    if backend is None:
        return "cpu"
    return {"CUDA": "cuda", "ROCm": "rocm", "Metal": "metal"}.get(backend, "vulkan")


def cpu_tflops(cores: int) -> float:
    """Peak FP32 throughput of `cores` CPU cores, in TFLOPS."""
    return cores * CPU_GHZ * CPU_FLOPS_PER_CYCLE / 1000


def flops_per_token(arch: Architecture, active_params_b: float, tokens: int = PP_TOKENS) -> float:
    """FLOPs per prompt token over a prompt of `tokens`: the weights' matmuls plus attention
    scores and values over on average tokens/2 earlier tokens."""
    width = arch.attention_heads * arch.head_dim
    return 2 * active_params_b * 1e9 + 4 * arch.attention_layers * width * tokens / 2


def device_prefill_tps(arch: Architecture, active_params_b: float, tflops: float | None,
                       backend: str, tokens: int = PP_TOKENS,
                       generation: str | None = None) -> float | None:
    """Prompt tokens per second on one device, None where its compute is unknown. A GPU
    generation with rows of its own on this backend (`rocm/rdna3`) uses its own efficiency."""
    table = prefill_table()
    eff = table.get(f"{backend}/{generation}") if generation else None
    eff = eff or table.get(backend)
    if not tflops or eff is None:
        return None
    return eff.efficiency * tflops * 1e12 / flops_per_token(arch, active_params_b, tokens)


def split_prefill_tps(gpu_tps: float | None, cpu_tps: float | None, gpu_share: float) -> float | None:
    """Prompt speed when a share of the work runs on each side (layer split, expert offload)."""
    if gpu_share >= 1.0:
        return gpu_tps
    if gpu_share <= 0.0:
        return cpu_tps
    if not gpu_tps or not cpu_tps:
        return None
    return 1.0 / (gpu_share / gpu_tps + (1 - gpu_share) / cpu_tps)


def estimate_prefill_tps(arch: Architecture, active_params_b: float, moe: bool,
                         gpu_tflops: float | None, gpu_backend: str | None, cpu_cores: int,
                         gpu_share: float, gpu_generation: str | None = None) -> float | None:
    """Prompt tokens per second (pp512) of a run that does `gpu_share` of its work on the GPU."""
    gpu = cpu = None
    if gpu_share > 0:
        gpu = device_prefill_tps(arch, active_params_b, gpu_tflops, backend_key(gpu_backend),
                                 generation=gpu_generation)
        gpu = gpu * moe_factor("moe_gpu") if gpu is not None and moe else gpu
    if gpu_share < 1:
        cpu = device_prefill_tps(arch, active_params_b, cpu_tflops(cpu_cores), "cpu")
        cpu = cpu * moe_factor("moe_cpu") if cpu is not None and moe else cpu
    return split_prefill_tps(gpu, cpu, gpu_share)


def moe_factor(side: str) -> float:
    """How much of dense efficiency a mixture of experts' prefill reaches (moe_gpu, moe_cpu)."""
    row = prefill_table().get(side)
    return row.efficiency if row is not None else 1.0


def ttft_ms(prefill_tps: float | None, decode_tps: float | None,
            prompt_tokens: int = TTFT_PROMPT_TOKENS) -> float | None:
    """Milliseconds to the first token: the prompt processed, then one decode step."""
    if not prefill_tps or not decode_tps:
        return None
    return 1000 * (prompt_tokens / prefill_tps + 1 / decode_tps)
