"""Pure: where a model at one quantization would live on a machine, and how fast it decodes.

Run modes, best first: `gpu` (everything in VRAM / the Metal working set), `moe_offload`
(routed experts in RAM, the rest on the GPU), `cpu_offload` (layers split between GPU and RAM),
`cpu_only`. Fit thresholds (utilization of the pool the mode draws on) are in FIT_THRESHOLDS.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Mapping

from llmfit.architecture import Architecture
from llmfit.estimate import (GIB, Efficiency, WeightBytes, attended_tokens, cpu_stream_gbps,
                             decode_seconds,
                             depth_seconds, device_class, efficiency_for, efficiency_table,
                             for_device,
                             kv_cache_bytes,
                             layer_overhead_seconds, moe_overhead_seconds,
                             runtime_overhead_bytes)
from llmfit.kv_cache import FP16, KvCache
from llmfit.values import SystemSpec


class FitLevel(enum.IntEnum):
    """How comfortably a model fits; larger is better."""

    TOO_TIGHT = 0
    MARGINAL = 1
    GOOD = 2
    PERFECT = 3

    @property
    def code(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").title()


class RunMode(enum.IntEnum):
    """Where the weights live; larger is faster."""

    CPU_ONLY = 0
    CPU_OFFLOAD = 1
    MOE_OFFLOAD = 2
    GPU = 3

    @property
    def code(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return {"GPU": "GPU", "MOE_OFFLOAD": "MoE", "CPU_OFFLOAD": "CPU+GPU",
                "CPU_ONLY": "CPU"}[self.name]


# Utilization limits (required / available) for each level, per run mode. A mode never reaches
# a level missing from its list: offloading is at best `good` (MoE) or `marginal` (layer split);
# a CPU-only run is at best `good` and keeps a margin for the OS and other programs.
FIT_THRESHOLDS: dict[RunMode, tuple[tuple[FitLevel, float], ...]] = {
    RunMode.GPU: ((FitLevel.PERFECT, 0.80), (FitLevel.GOOD, 0.90), (FitLevel.MARGINAL, 1.00)),
    RunMode.MOE_OFFLOAD: ((FitLevel.GOOD, 0.80), (FitLevel.MARGINAL, 1.00)),
    RunMode.CPU_OFFLOAD: ((FitLevel.MARGINAL, 1.00),),
    RunMode.CPU_ONLY: ((FitLevel.GOOD, 0.70), (FitLevel.MARGINAL, 0.95)),
}


def fit_level(mode: RunMode, utilization: float) -> FitLevel:
    """The best level whose limit `utilization` (a fraction) stays within."""
    for level, limit in FIT_THRESHOLDS[mode]:
        if utilization <= limit:
            return level
    return FitLevel.TOO_TIGHT


def max_utilization(mode: RunMode) -> float:
    """The largest utilization a mode accepts at all."""
    return FIT_THRESHOLDS[mode][-1][1]


@dataclass(frozen=True)
class Pools:
    """Memory and bandwidth the machine offers to a model."""

    gpu_gib: float  # free VRAM over all cards, or the Metal working set
    ram_gib: float  # available system RAM
    gpu_backend: str | None
    gpu_bandwidth_gbps: float | None  # effective for a layer split over all cards
    gpu_efficiency: Efficiency | None
    cpu_bandwidth_gbps: float
    cpu_efficiency: Efficiency
    gpu_devices: int
    unified: bool
    cpu_bandwidth_measured: bool = False
    cpu_arch: str = "x86_64"
    gpu_tflops: float | None = None  # peak dense FP16 of the first GPU (prompt processing)
    cpu_cores: int = 1
    gpu_generation: str | None = None  # of the first GPU (llmfit.gpus.gpu_generation)


def main_efficiency(mode: RunMode, pools: Pools) -> Efficiency | None:
    """The constants of the pool a run mode decodes from (the CPU's, or the GPU's)."""
    return pools.cpu_efficiency if mode is RunMode.CPU_ONLY else pools.gpu_efficiency


def machine_pools(system: SystemSpec, local: Mapping[str, float] | None = None) -> Pools:
    """Pools of a machine: GPU memory summed over cards, bandwidth as a layer split sees it.
    `local`: per-class corrections measured on this machine (`llmfit bench`)."""
    local = local or {}

    def on_this_machine(eff: Efficiency) -> Efficiency:
        factor = local.get(eff.device_class)
        return replace(eff, local_factor=factor) if factor else eff

    gpu_gib, weighted_time, backend, eff = 0.0, 0.0, None, None
    unknown_bw = False
    for gpu in system.gpus:
        vram = gpu.free_vram_gib if gpu.free_vram_gib is not None else (gpu.vram_gib or 0.0)
        gpu_gib += vram * gpu.count
        if gpu.bandwidth_gbps:
            weighted_time += vram * gpu.count / gpu.bandwidth_gbps
        else:
            unknown_bw = True
        if backend is None:
            backend = gpu.backend
            eff = for_device(on_this_machine(efficiency_for(device_class(gpu.name, gpu.backend),
                                                            gpu.backend)), gpu.name)
    bandwidth = None if unknown_bw or not weighted_time else gpu_gib / weighted_time
    first = _compute_facts(system.gpus[0].name, system.gpus[0].vram_gib) if system.gpus else None
    return Pools(gpu_gib=gpu_gib, ram_gib=system.available_ram_gib, gpu_backend=backend,
                 gpu_bandwidth_gbps=bandwidth, gpu_efficiency=eff,
                 cpu_bandwidth_gbps=cpu_stream_gbps(system.ram_bandwidth_gbps, system.cpu_cores,
                                                    system.cpu_bandwidth_gbps),
                 cpu_efficiency=on_this_machine(
                     efficiency_table()["cpu" if system.cpu_bandwidth_gbps else "cpu_spec"]),
                 gpu_devices=system.gpu_count,
                 unified=system.unified_memory,
                 cpu_bandwidth_measured=system.cpu_bandwidth_gbps is not None,
                 cpu_arch=system.arch,
                 gpu_tflops=first[0] if first else None,
                 cpu_cores=max(int(system.cpu_cores), 1),
                 gpu_generation=first[1] if first else None)


@lru_cache(maxsize=64)
def _compute_facts(name: str, vram_gib: float | None) -> tuple[float | None, str | None] | None:
    """(peak dense FP16 TFLOPS, GPU generation) of a card from the device table, for prompt
    processing; None for a card the table lacks."""
    from llmfit.gpus import gpu_generation, lookup_gpu

    model = lookup_gpu(name, vram_gib)
    return (model.fp16_tflops, gpu_generation(model.name)) if model is not None else None


@dataclass(frozen=True)
class Placement:
    """One model at one quantization in one run mode, at one context."""

    mode: RunMode
    level: FitLevel
    required_gib: float  # on the pool the mode draws on
    available_gib: float
    total_gib: float  # GPU and RAM together
    offloaded_gib: float | None  # MoE experts kept in RAM
    gpu_fraction: float  # share of weight bytes read from the GPU

    @property
    def utilization(self) -> float:
        return self.required_gib / self.available_gib if self.available_gib > 0 else float("inf")


def memory_need_gib(arch: Architecture, weights: WeightBytes, context: int,
                    backend: str | None, devices: int = 1, kv: KvCache = FP16) -> float:
    """Weights + KV cache (every sequence's) + runtime overhead (per-device reserves), in GiB."""
    overhead = runtime_overhead_bytes(arch, context, backend)
    if backend is not None and devices > 1:
        overhead += (devices - 1) * runtime_overhead_bytes(arch, 0, backend)
    return (weights.total + kv_cache_bytes(arch, context, kv) + overhead) / GIB


def place(mode: RunMode, arch: Architecture, weights: WeightBytes, context: int,
          pools: Pools, kv: KvCache = FP16) -> Placement | None:
    """Where the model goes in `mode`, or None when the mode does not apply or does not fit."""
    if mode is RunMode.CPU_ONLY:
        need = memory_need_gib(arch, weights, context, None, kv=kv)
        return _placement(mode, need, pools.ram_gib, need, None, 0.0)
    if pools.gpu_gib <= 0:
        return None
    need = memory_need_gib(arch, weights, context, pools.gpu_backend, pools.gpu_devices, kv)
    if mode is RunMode.GPU:
        return _placement(mode, need, pools.gpu_gib, need, None, 1.0)
    if pools.unified:
        return None  # one memory: there is nothing to offload to
    if mode is RunMode.MOE_OFFLOAD:
        experts = weights.routed_experts / GIB
        if not experts or experts > pools.ram_gib * max_utilization(RunMode.CPU_ONLY):
            return None
        on_gpu = need - experts
        gpu_read = 1.0 - _active_expert_share(weights)
        return _placement(mode, on_gpu, pools.gpu_gib, need, experts, gpu_read)
    on_gpu = max(pools.gpu_gib * 0.9 - (need - weights.total / GIB), 0.0)
    fraction = min(on_gpu / (weights.total / GIB), 1.0) if weights.total else 0.0
    return _placement(mode, need, pools.gpu_gib + pools.ram_gib, need, None, fraction)


def _active_expert_share(weights: WeightBytes) -> float:
    """Share of the bytes read per token that are active routed experts."""
    if not weights.routed_experts or not weights.read_per_token:
        return 0.0
    return min(weights.active_experts / weights.read_per_token, 1.0)


def _placement(mode: RunMode, need: float, available: float, total: float,
               offloaded: float | None, gpu_fraction: float) -> Placement | None:
    if available <= 0:
        return None
    level = fit_level(mode, need / available)
    if level is FitLevel.TOO_TIGHT:
        return None
    return Placement(mode, level, need, available, total, offloaded, gpu_fraction)


@dataclass(frozen=True)
class SpeedEstimate:
    """Decode speed and how it was derived."""

    tps: float | None
    efficiency: float | None  # bytes read / (time x bandwidth of the main pool)
    calibrated: bool


def decode_speed(placement: Placement, arch: Architecture, weights: WeightBytes,
                 depth: int, pools: Pools, quant: str = "Q4_0", moe: bool = False,
                 sequences: int = 1) -> SpeedEstimate:
    """Tokens per second (per sequence) with `depth` tokens in each of `sequences` KV caches:
    weight bytes read once per step from each pool at its bandwidth and kernel efficiency,
    attention over every sequence's cache, and per-layer costs."""
    kv = attended_tokens(arch, depth) * sequences
    gpu_bytes = weights.read_per_token * placement.gpu_fraction
    cpu_bytes = weights.read_per_token - gpu_bytes
    on_gpu = placement.mode is not RunMode.CPU_ONLY
    seconds, calibrated = 0.0, True
    if gpu_bytes or on_gpu:
        if pools.gpu_bandwidth_gbps is None or pools.gpu_efficiency is None:
            return SpeedEstimate(None, None, False)
        seconds += decode_seconds(gpu_bytes, pools.gpu_bandwidth_gbps, pools.gpu_efficiency,
                                  quant)
        seconds += depth_seconds(kv, pools.gpu_bandwidth_gbps, pools.gpu_efficiency) if on_gpu else 0
        calibrated = pools.gpu_efficiency.calibrated
    if cpu_bytes or not on_gpu:
        seconds += decode_seconds(cpu_bytes, pools.cpu_bandwidth_gbps, pools.cpu_efficiency,
                                  quant)
        seconds += 0 if on_gpu else depth_seconds(kv, pools.cpu_bandwidth_gbps, pools.cpu_efficiency)
        calibrated = calibrated and pools.cpu_efficiency.calibrated
    eff = pools.gpu_efficiency if on_gpu and pools.gpu_efficiency else pools.cpu_efficiency
    seconds += layer_overhead_seconds(arch.layers, eff)
    seconds += moe_overhead_seconds(arch, eff) if moe else 0.0
    seconds /= eff.local_factor  # measured / estimated on this machine (`llmfit bench`)
    main_bw = pools.gpu_bandwidth_gbps if on_gpu else pools.cpu_bandwidth_gbps
    effective = weights.read_per_token / (seconds * main_bw * 1e9) if main_bw else None
    return SpeedEstimate(1.0 / seconds, effective, calibrated)
