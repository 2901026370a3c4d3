"""Pure: analyse one model on one machine: runtime, quantization, run mode, context, speed, score."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from llmfit.catalog import ModelSpec
from llmfit.errors import UsageError
from llmfit.estimate import GIB, Quant, WeightBytes, quant_table, repack_share, weight_bytes
from llmfit.kv_cache import FP16, KvCache, effective_kv
from llmfit.prefill import estimate_prefill_tps
from llmfit.placement import (FitLevel, Placement, Pools, RunMode, SpeedEstimate, decode_speed,
                              max_utilization, memory_need_gib, place)
from llmfit.scoring import Scores, score_model

DEFAULT_CONTEXT = 8192
TG_DEPTH = 64  # `estimated_tps` is tg128's figure: on average 64 tokens sit in the KV cache
GGUF_LADDER = ("Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
LOW_QUANTS = frozenset({"Q3_K_M", "Q2_K"})  # only where nothing at Q4 or better fits
MLX_LADDER = ("mlx-8bit", "mlx-6bit", "mlx-4bit")


class Runtime(enum.Enum):
    """Inference engines llmfit analyses for."""

    LLAMACPP = "llamacpp"
    MLX = "mlx"
    VLLM = "vllm"

    @property
    def code(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        return {"llamacpp": "llama.cpp", "mlx": "MLX", "vllm": "vLLM"}[self.value]


@dataclass(frozen=True)
class AnalysisOptions:
    """What the user pinned for the analysis."""

    max_context: int | None = None
    quant: str | None = None
    force_runtime: Runtime | None = None
    kv_quant: str = "fp16"
    parallel: int = 1
    only_mode: RunMode | None = None  # the planner asks about one run path at a time


@dataclass(frozen=True)
class FitResult:
    """One model analysed for one machine."""

    model: ModelSpec
    runtime: Runtime
    quant: str | None
    level: FitLevel
    mode: RunMode
    effective_context: int
    usable_context: int
    required_gib: float
    available_gib: float
    total_gib: float
    offloaded_gib: float | None
    disk_gib: float
    speed: SpeedEstimate
    scores: Scores
    notes: tuple[str, ...]
    assumed_context: int
    speed_full: SpeedEstimate = SpeedEstimate(None, None, False)  # KV filled to the context
    kv: KvCache = FP16  # the cache the figures assume (after any runtime fallback)
    prefill_tps: float | None = None  # prompt tokens per second (pp512)

    @property
    def tps(self) -> float | None:
        return self.speed.tps

    @property
    def utilization_pct(self) -> float:
        return 100.0 * self.required_gib / self.available_gib if self.available_gib else 0.0


def effective_context(model: ModelSpec, max_context: int | None) -> int:
    """The context the estimate assumes: min(native window, max_context or 8192)."""
    return min(model.context_length, max_context or DEFAULT_CONTEXT)


def resolve_quant(name: str) -> Quant:
    """A quantization by name (case-insensitive), or a UsageError listing the known ones."""
    quant = quant_table().get(name.strip().upper())
    if quant is None:
        known = "|".join(q.name for q in quant_table().values())
        raise UsageError(f"invalid quant value: use {known}")
    return quant


def model_weights(model: ModelSpec, quant: Quant) -> WeightBytes:
    """The file's own bytes where the model is a local file at this quant; else the estimate."""
    exact = model.exact_weights
    if exact is not None and exact.quant.upper() == quant.name.upper():
        return WeightBytes(total=float(exact.total_bytes),
                           routed_experts=float(exact.routed_expert_bytes),
                           active_experts=exact.active_expert_bytes,
                           read_per_token=exact.read_per_token_bytes)
    return weight_bytes(model.arch, model.params_b, quant)


def file_quant(model: ModelSpec) -> Quant | None:
    """The quantization of a model's local file (known types by name, others as the file says)."""
    if model.exact_weights is None:
        return None
    known = quant_table().get(model.exact_weights.quant.upper())
    if known is not None:
        return known
    bits = 8.0 * model.exact_weights.total_bytes / (model.params_b * 1e9)
    penalty = 0 if bits >= 8 else 2 if bits >= 5 else 5 if bits >= 4 else 10 if bits >= 3 else 20
    return Quant(model.exact_weights.quant, "llamacpp", bits, bits, bits, bits, penalty)


def published_format(quant: Quant) -> str | None:
    """The catalog format a quantization needs published (None: llama.cpp converts any model)."""
    if quant.runtime == "mlx":
        return "MLX"
    return quant.name if quant.name in ("AWQ", "GPTQ", "FP8", "MXFP4") else None


def choose_runtime(model: ModelSpec, pools: Pools, options: AnalysisOptions) -> Runtime:
    """The forced runtime, the pinned quant's runtime, MLX on Apple when published, else llama.cpp."""
    if options.force_runtime is not None:
        return options.force_runtime
    if model.exact_weights is not None and not options.quant:
        return Runtime.LLAMACPP  # a GGUF file runs on llama.cpp (Ollama, LM Studio)
    if options.quant:
        pinned = resolve_quant(options.quant).runtime
        if pinned in ("mlx", "vllm"):
            return Runtime(pinned)
    if pools.gpu_backend == "Metal" and "MLX" in model.quants:
        return Runtime.MLX
    return Runtime.LLAMACPP


def candidate_quants(model: ModelSpec, runtime: Runtime, options: AnalysisOptions) -> list[Quant]:
    """Quantizations to try, best quality first."""
    table = quant_table()
    own = file_quant(model)
    if options.quant:
        pinned = resolve_quant(options.quant)
        return [own if own is not None and own.name.upper() == pinned.name.upper() else pinned]
    if own is not None and runtime is Runtime.LLAMACPP:
        return [own]
    if "MXFP4" in model.quants:
        return [table["MXFP4"]]
    if runtime is Runtime.MLX:
        names: tuple[str, ...] = MLX_LADDER
    elif runtime is Runtime.VLLM:
        names = ("BF16",) + tuple(q for q in ("FP8", "AWQ", "GPTQ") if q in model.quants)
    else:
        names = (("F16",) if model.category == "Embedding" else ()) + GGUF_LADDER
    return [table[n.upper()] for n in names]


def runtime_modes(runtime: Runtime, pools: Pools) -> tuple[RunMode, ...]:
    """Run modes a runtime can use on this machine, fastest first (empty: it cannot run)."""
    if runtime is Runtime.MLX:
        return (RunMode.GPU,) if pools.gpu_backend == "Metal" else ()
    if runtime is Runtime.VLLM:
        return (RunMode.GPU,) if pools.gpu_backend in ("CUDA", "ROCm") else ()
    return (RunMode.GPU, RunMode.MOE_OFFLOAD, RunMode.CPU_OFFLOAD, RunMode.CPU_ONLY)


def fitting_candidates(model: ModelSpec, quants: list[Quant], modes: tuple[RunMode, ...],
                       context: int, pools: Pools, kv: KvCache = FP16) -> list[tuple[Quant, Placement]]:
    """Placements in the fastest mode where anything fits (Q3/Q2 only if nothing better fits)."""
    for mode in modes:
        for low_tier in (False, True):
            found = []
            for quant in quants:
                if (quant.name in LOW_QUANTS) != low_tier:
                    continue
                weights = model_weights(model, quant)
                placed = place(mode, model.arch, weights, context, pools, kv)
                if placed is not None:
                    found.append((quant, placed))
            if found:
                return found
    return []


def choose_candidate(model: ModelSpec, found: list[tuple[Quant, Placement]], context: int,
                     pools: Pools, kv: KvCache = FP16) -> tuple[Quant, Placement]:
    """The candidate with the best score (quality, speed and fit); ties go to the larger quant."""

    def score(item: tuple[int, tuple[Quant, Placement]]) -> tuple[float, int]:
        rank, (quant, placed) = item
        weights = model_weights(model, quant)
        speed = decode_speed(placed, model.arch, weights, min(context, TG_DEPTH), pools,
                             quant.name, model.is_moe, kv.sequences)
        total = score_model(model, placed.level, speed.tps, context, quant.quality_penalty).total
        return round(total, 6), -rank

    return max(enumerate(found), key=score)[1]


def usable_context(model: ModelSpec, weights: WeightBytes, placement: Placement,
                   pools: Pools, kv: KvCache = FP16) -> int:
    """The largest context that still fits the chosen run mode's pool (binary search)."""
    backend = None if placement.mode is RunMode.CPU_ONLY else pools.gpu_backend
    devices = pools.gpu_devices if backend else 1
    limit = placement.available_gib * max_utilization(placement.mode)
    fixed = placement.total_gib - placement.required_gib  # offloaded experts live elsewhere

    def fits(ctx: int) -> bool:
        return memory_need_gib(model.arch, weights, ctx, backend, devices, kv) - fixed <= limit

    low, high = 0, model.context_length
    if fits(high):
        return high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if fits(mid) else (low, mid)
    return low


def analyse(model: ModelSpec, pools: Pools, options: AnalysisOptions) -> FitResult:
    """Choose runtime, quantization and run mode for one model; estimate memory, speed, score."""
    runtime = choose_runtime(model, pools, options)
    quants = candidate_quants(model, runtime, options)
    context = effective_context(model, options.max_context)
    modes = runtime_modes(runtime, pools)
    if options.only_mode is not None:
        modes = tuple(m for m in modes if m is options.only_mode)
    kv, kv_note = effective_kv(runtime.code, KvCache(options.kv_quant, options.parallel))
    missing = published_format(quants[0]) if options.quant else None
    if missing and missing not in model.quants:
        note = f"No {missing} weights are published for this model."
        return _too_tight(model, runtime, quants[0], context, pools, modes, kv, note)
    found = fitting_candidates(model, quants, modes, context, pools, kv)
    if not found:
        return _too_tight(model, runtime, quants[-1], context, pools, modes, kv)
    quant, placed = choose_candidate(model, found, context, pools, kv)
    weights = model_weights(model, quant)
    assumed = min(context, TG_DEPTH)
    speed = decode_speed(placed, model.arch, weights, assumed, pools, quant.name, model.is_moe,
                         kv.sequences)
    full = decode_speed(placed, model.arch, weights, context, pools, quant.name, model.is_moe,
                        kv.sequences)
    usable = usable_context(model, weights, placed, pools, kv)
    scores = score_model(model, placed.level, speed.tps, usable, quant.quality_penalty)
    notes = _notes(model, quant, placed, usable, context, pools) + _kv_notes(kv, kv_note)
    on_gpu = 0.0 if placed.mode is RunMode.CPU_ONLY else max(placed.gpu_fraction, 0.0)
    prefill = estimate_prefill_tps(model.arch, model.active_params_b or model.params_b,
                                   model.is_moe, pools.gpu_tflops, pools.gpu_backend,
                                   pools.cpu_cores, on_gpu if placed.mode is not RunMode.GPU else 1.0,
                                   pools.gpu_generation)
    return FitResult(model, runtime, quant.name, placed.level, placed.mode, context, usable,
                     placed.required_gib, placed.available_gib, placed.total_gib,
                     placed.offloaded_gib, weights.total / GIB, speed, scores, notes, assumed,
                     full, kv, prefill)


def _kv_notes(kv: KvCache, fallback: str | None) -> tuple[str, ...]:
    notes = [fallback] if fallback else []
    if kv.sequences > 1:
        notes.append(f"{kv.sequences} parallel sequences, each with its own {kv.kind} KV cache; "
                     "the speed is per sequence (aggregate_tps: all together).")
    return tuple(notes)


def _too_tight(model: ModelSpec, runtime: Runtime, smallest: Quant, context: int,
               pools: Pools, modes: tuple[RunMode, ...], kv: KvCache = FP16,
               note: str | None = None) -> FitResult:
    weights = model_weights(model, smallest)
    has_gpu = pools.gpu_gib > 0 and RunMode.GPU in modes
    backend = pools.gpu_backend if has_gpu else None
    need = memory_need_gib(model.arch, weights, context, backend, pools.gpu_devices or 1, kv)
    available = pools.gpu_gib + (0 if pools.unified else pools.ram_gib) if has_gpu else pools.ram_gib
    if note is None and not modes:
        note = _runtime_unavailable(runtime)
    elif note is None:
        note = (f"Needs {need:.1f} GiB even at {smallest.name}; "
                f"{available:.1f} GiB is available for it here.")
    mode = RunMode.GPU if has_gpu else RunMode.CPU_ONLY
    scores = score_model(model, FitLevel.TOO_TIGHT, None, 0, smallest.quality_penalty)
    return FitResult(model, runtime, smallest.name, FitLevel.TOO_TIGHT, mode, context, 0,
                     need, available, need, None, weights.total / GIB,
                     SpeedEstimate(None, None, False), scores, (note,), min(context, TG_DEPTH),
                     kv=kv)


def _runtime_unavailable(runtime: Runtime) -> str:
    if runtime is Runtime.MLX:
        return "MLX runs only on Apple Silicon (Metal); this machine has none."
    return "vLLM needs a CUDA or ROCm GPU; this machine has none."


# docs/estimation.md and benchmarks/overhead.py have the rows (llama.cpp #20835, PR #21086, #28196).
CUDA_MOE_NOTE = ("MoE decode on CUDA moves with the llama.cpp build (RTX 5090 runs of "
                 "Qwen3-30B-A3B: 211-220 tok/s on March 2026 builds, 377 in September) and the "
                 "estimate has no build term: current builds may reach the range's high end.")


def _notes(model: ModelSpec, quant: Quant, placed: Placement, usable: int, context: int,
           pools: Pools) -> tuple[str, ...]:
    pool = "GPU memory" if placed.mode is RunMode.GPU else "the memory pool"
    notes = [f"{placed.mode.label} run at {quant.name}: {placed.required_gib:.1f} of "
             f"{placed.available_gib:.1f} GiB ({placed.utilization * 100:.0f}% of {pool})."]
    if placed.mode is RunMode.MOE_OFFLOAD:
        notes.append(f"{placed.offloaded_gib:.1f} GiB of expert weights stay in system RAM.")
    elif placed.mode is RunMode.CPU_OFFLOAD:
        notes.append(f"Only {placed.gpu_fraction * 100:.0f}% of the weights fit on the GPU; "
                     "the rest runs from system RAM, which sets the speed.")
    elif placed.mode is RunMode.CPU_ONLY and pools.gpu_gib > 0:
        notes.append("Does not fit the GPU; runs on the CPU.")
    if placed.mode is RunMode.CPU_ONLY and (share := repack_share(pools.cpu_arch, quant.name)):
        extra = share * model_weights(model, quant).total / GIB
        notes.append(f"llama.cpp repacks {extra:.1f} GiB of {quant.name} weights for the CPU at "
                     f"load: up to ~{placed.required_gib + extra:.1f} GiB resident while loading "
                     "where RAM allows (the file's pages are cache that gives way; "
                     "--no-repack avoids the copy).")
    if quant.name in LOW_QUANTS:
        notes.append(f"{quant.name} is a heavy quantization: expect a loss of quality.")
    if usable < context:
        notes.append(f"Context limited to {usable:,} tokens by memory.")
    if model.is_moe:
        notes.append(f"Mixture of experts: {model.active_params_b:g}B of {model.params_b:g}B "
                     "parameters are active per token.")
        if placed.mode is RunMode.GPU and pools.gpu_backend == "CUDA":
            notes.append(CUDA_MOE_NOTE)
    return tuple(notes)
