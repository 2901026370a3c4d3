"""Pure: the hardware one model needs, per run path, solved from the listings' own fit and speed model.

Each path's memory at a fit level comes from the same need (`memory_need_gib`) and thresholds
(`FIT_THRESHOLDS`) the listings use, and every figure is then checked by analysing the model on
that what-if machine, exactly as `llmfit models --ram/--memory/--cpu-cores` would: `minimum`
analyses as at least `marginal`, `recommended` as `good` or better (and `target_tps` where the
path can reach it), so `plan` and `models` never contradict each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

from llmfit.catalog import ModelSpec
from llmfit.estimate import GIB, WeightBytes
from llmfit.fit import (AnalysisOptions, FitResult, analyse, effective_context, file_quant,
                        model_weights, resolve_quant)
from llmfit.hardware.overrides import apply_overrides
from llmfit.kv_cache import KvCache, effective_kv
from llmfit.placement import (FIT_THRESHOLDS, FitLevel, RunMode, machine_pools, memory_need_gib)
from llmfit.values import SystemSpec

PATHS = (RunMode.GPU, RunMode.MOE_OFFLOAD, RunMode.CPU_OFFLOAD, RunMode.CPU_ONLY)
GPU_PATH_RAM_GB = (4.0, 8.0)  # (minimum, recommended) system RAM beside a full GPU run: a floor
FLOOR_CORES = (2, 4)  # (minimum, recommended) cores where the fit and speed do not depend on them
OFFLOAD_GPU_GB = 8.0  # the card a layer split assumes on a machine without a GPU
MAX_CORES = 1024
SINGLE_CARD_GB = 141.0  # beyond this a GPU path means several cards (H200: 141 GB)
VERIFY_STEPS = 12


@dataclass(frozen=True)
class PlanRequest:
    """What the user asks to run."""

    model: ModelSpec
    context: int | None = None
    quant: str | None = None
    kv_quant: str = "fp16"
    target_tps: float | None = None
    parallel: int = 1


@dataclass(frozen=True)
class Hardware:
    """A machine as the what-if options describe it: GPU memory per card, RAM, cores."""

    vram_gb: float
    ram_gb: float
    cpu_cores: int

    def json(self) -> dict[str, float | int]:
        return {"vram_gb": round(self.vram_gb, 1), "ram_gb": round(self.ram_gb, 1),
                "cpu_cores": int(self.cpu_cores)}


@dataclass(frozen=True)
class PathPlan:
    """One run path: the hardware at each fit level it can reach, and its speed there."""

    mode: RunMode
    levels: dict[FitLevel, Hardware]
    minimum: Hardware | None
    recommended: Hardware | None
    result: FitResult | None  # the analysis at `recommended` (else at `minimum`)
    target_reached: bool | None
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Everything `llmfit plan` and POST /api/v1/plan answer."""

    request: PlanRequest
    quant: str
    context: int
    kv: KvCache
    current: FitResult
    current_hw: Hardware
    paths: tuple[PathPlan, ...]
    best: PathPlan | None
    runtime: str
    backend: str  # of the GPU paths: this node's GPU, else a generic CUDA card
    weights: WeightBytes  # at `quant`


def machine(base: SystemSpec, hw: Hardware) -> SystemSpec:
    """The what-if machine of `hw` (vram_gb 0: no GPU), as the listings build it."""
    return apply_overrides(base, memory_gib=hw.vram_gb, ram_gib=hw.ram_gb, cpu_cores=hw.cpu_cores)


def current_hardware(base: SystemSpec) -> Hardware:
    """This node as what-if figures: free memory of its first GPU, available RAM, cores."""
    gpu = base.primary_gpu
    vram = (gpu.free_vram_gib if gpu.free_vram_gib is not None else gpu.vram_gib or 0.0) if gpu else 0.0
    return Hardware(vram, base.available_ram_gib, base.cpu_cores)


def default_quant(model: ModelSpec, base: SystemSpec) -> str:
    """The quant a plan is for when none is asked: what the listing picks here if it fits,
    else the runtime's usual 4-bit build."""
    result = analyse(model, machine_pools(base), AnalysisOptions())
    if result.level is not FitLevel.TOO_TIGHT and result.quant:
        return result.quant
    if model.exact_weights is not None:
        return model.exact_weights.quant
    if "MXFP4" in model.quants:
        return "MXFP4"
    return "mlx-4bit" if result.runtime.code == "mlx" else "Q4_K_M"


class _Solver:
    """Analyses of one model, one quant, on what-if machines derived from one base machine."""

    def __init__(self, request: PlanRequest, base: SystemSpec, quant: str) -> None:
        self.request, self.base = request, base
        own = file_quant(request.model)
        mine = own is not None and own.name.upper() == quant.upper()
        self.quant = quant if mine else resolve_quant(quant).name
        # A local file's own quant is analysed as the file (its type may have no table entry).
        self.options = AnalysisOptions(max_context=request.context, quant=None if mine else self.quant,
                                       kv_quant=request.kv_quant, parallel=request.parallel)
        self.context = effective_context(request.model, request.context)
        quant_obj = own if mine and own is not None else resolve_quant(self.quant)
        self.weights = model_weights(request.model, quant_obj)

    def evaluate(self, hw: Hardware, mode: RunMode | None = None) -> FitResult:
        options = replace(self.options, only_mode=mode)
        return analyse(self.request.model, machine_pools(machine(self.base, hw)), options)

    def needs(self, kv: KvCache, backend: str | None) -> tuple[float, float, float]:
        """(on a GPU, on the CPU, routed experts) in GiB at the plan's context."""
        arch, weights = self.request.model.arch, self.weights
        gpu = memory_need_gib(arch, weights, self.context, backend, 1, kv)
        cpu = memory_need_gib(arch, weights, self.context, None, 1, kv)
        return gpu, cpu, weights.routed_experts / GIB


def _up(value: float) -> float:
    """Round a memory figure up to 0.1 GB, so the stated figure is never short."""
    return math.ceil(round(value * 10, 6)) / 10


def _limit(mode: RunMode, level: FitLevel) -> float | None:
    return dict(FIT_THRESHOLDS[mode]).get(level)


def _candidate(mode: RunMode, level: FitLevel, needs: tuple[float, float, float],
               here: Hardware, cores: int) -> Hardware | None:
    """The smallest hardware the thresholds give for `mode` at `level` (checked afterwards)."""
    gpu, cpu, experts = needs
    limit = _limit(mode, level)
    if limit is None:
        return None
    if mode is RunMode.GPU:
        ram = GPU_PATH_RAM_GB[0 if level is FitLevel.MARGINAL else 1]
        return Hardware(_up(gpu / limit), ram, cores)
    if mode is RunMode.CPU_ONLY:
        return Hardware(0.0, _up(cpu / limit), cores)
    if mode is RunMode.MOE_OFFLOAD:
        if not experts:
            return None
        ram_limit = dict(FIT_THRESHOLDS[RunMode.CPU_ONLY])[FitLevel.MARGINAL]
        return Hardware(_up((gpu - experts) / limit), _up(experts / ram_limit), cores)
    vram = here.vram_gb if here.vram_gb > 0 else OFFLOAD_GPU_GB
    if gpu <= vram:
        return None  # it fits on the card: nothing to split
    return Hardware(vram, _up(max(gpu / limit - vram, 1.0)), cores)


def _verified(solver: _Solver, mode: RunMode, level: FitLevel, hw: Hardware) -> Hardware | None:
    """`hw`, grown a little at a time until the analysis agrees it reaches `level` in `mode`
    (the thresholds give the answer; this guards rounding and per-machine details)."""
    for _ in range(VERIFY_STEPS):
        result = solver.evaluate(hw, mode)
        if result.level >= level and result.mode is mode:
            return hw
        grow = 1.02 if result.level is not FitLevel.TOO_TIGHT else 1.05
        if mode is RunMode.CPU_ONLY or mode is RunMode.CPU_OFFLOAD:
            hw = replace(hw, ram_gb=_up(hw.ram_gb * grow + 0.1))
        elif mode is RunMode.MOE_OFFLOAD:
            hw = Hardware(_up(hw.vram_gb * grow + 0.1), _up(hw.ram_gb * grow + 0.1), hw.cpu_cores)
        else:
            hw = replace(hw, vram_gb=_up(hw.vram_gb * grow + 0.1))
    return None


def _cores_for(solver: _Solver, mode: RunMode, hw: Hardware,
               wanted: Callable[[float], bool]) -> int | None:
    """The fewest cores at which the decode speed satisfies `wanted`, or None."""
    def ok(cores: int) -> bool:
        tps = solver.evaluate(replace(hw, cpu_cores=cores), mode).tps
        return tps is not None and wanted(tps)

    high = 1
    while not ok(high):
        if high >= MAX_CORES:
            return None
        high = min(high * 2, MAX_CORES)
    low = high // 2
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if ok(mid) else (mid, high)
    return max(high, 1)


def solve_path(solver: _Solver, mode: RunMode, here: Hardware, kv: KvCache,
               backend: str | None) -> PathPlan:
    """Minimum, recommended and every reachable level of one run path."""
    model, target = solver.request.model, solver.request.target_tps
    if mode is RunMode.MOE_OFFLOAD and not model.is_moe:
        return PathPlan(mode, {}, None, None, None, None, ("Only for mixtures of experts.",))
    needs = solver.needs(kv, backend)
    uses_cpu = mode is not RunMode.GPU
    levels: dict[FitLevel, Hardware] = {}
    for level in (FitLevel.MARGINAL, FitLevel.GOOD, FitLevel.PERFECT):
        cores = FLOOR_CORES[0 if level is FitLevel.MARGINAL else 1]
        hw = _candidate(mode, level, needs, here, cores)
        checked = _verified(solver, mode, level, hw) if hw else None
        if checked is not None:
            levels[level] = checked
    notes = list(_path_notes(mode, levels, needs, here))
    minimum = levels.get(FitLevel.MARGINAL)
    good = levels.get(FitLevel.GOOD)
    if minimum is None:
        return PathPlan(mode, levels, None, None, None, None, tuple(notes))
    recommended, reached = good, None
    if good is not None and uses_cpu:
        saturated = solver.evaluate(replace(good, cpu_cores=MAX_CORES), mode).tps or 0.0
        enough = _cores_for(solver, mode, good, lambda tps: tps >= 0.95 * saturated)
        recommended = replace(good, cpu_cores=max(enough or good.cpu_cores, FLOOR_CORES[1]))
    if good is not None and target is not None:
        tps = solver.evaluate(recommended or good, mode).tps or 0.0
        reached = tps >= target
        if not reached and uses_cpu:
            enough = _cores_for(solver, mode, good, lambda t: t >= target)
            if enough is not None:
                recommended, reached = replace(good, cpu_cores=max(enough, FLOOR_CORES[1])), True
        if not reached:
            notes.append(f"{target:g} tok/s is out of reach on this path: about {tps:.1f} at best "
                         "with the assumed device.")
            card = _card_for_target(solver, recommended or good, target) \
                if mode is RunMode.GPU else None
            if card is not None:
                notes.append(f"A card with {card.bandwidth_gbps:g} GB/s of memory bandwidth "
                             f"({card.name}, with the memory above) would reach it.")
    result = solver.evaluate(recommended or minimum, mode)
    return PathPlan(mode, levels, minimum, recommended, result, reached, tuple(notes))


def _card_for_target(solver: _Solver, hw: Hardware, target: float) -> Any:
    """The discrete card of the device table with the least memory bandwidth at which the
    GPU path reaches `target` (at `hw`'s memory), or None when even the fastest does not."""
    from llmfit.gpus import all_gpus

    cards = sorted({g.name: g for g in all_gpus()
                    if not g.unified_memory and g.backend in ("CUDA", "ROCm")}.values(),
                   key=lambda g: (g.bandwidth_gbps, g.name))

    def reaches(index: int) -> bool:
        system = apply_overrides(solver.base, gpus=[cards[index].name], memory_gib=hw.vram_gb,
                                 ram_gib=hw.ram_gb, cpu_cores=hw.cpu_cores)
        options = replace(solver.options, only_mode=RunMode.GPU)
        tps = analyse(solver.request.model, machine_pools(system), options).tps
        return tps is not None and tps >= target

    if not cards or not reaches(len(cards) - 1):
        return None
    low, high = -1, len(cards) - 1  # speed grows with bandwidth: the first card that reaches it
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if reaches(mid) else (mid, high)
    return cards[high]


def _path_notes(mode: RunMode, levels: dict[FitLevel, Hardware], needs: tuple[float, float, float],
                here: Hardware) -> list[str]:
    gpu, cpu, experts = needs
    if mode is RunMode.GPU:
        notes = [f"Everything on the GPU: {gpu:.1f} GiB with the KV cache and runtime buffers; "
                 "system RAM is a floor for the OS, not used by the model."]
        if gpu > SINGLE_CARD_GB:
            notes.append("More than one card holds: the memory is split over several GPUs.")
        if here.vram_gb <= 0:
            notes.append("Speed assumed for a generic CUDA card (the --memory what-if's).")
        return notes
    if mode is RunMode.MOE_OFFLOAD:
        return [f"Expert weights ({experts:.1f} GiB) in system RAM, the rest on the GPU; "
                "at best good."]
    if mode is RunMode.CPU_OFFLOAD:
        if not levels:
            return ["Not needed: the model fits on the GPU whole."] if gpu <= max(here.vram_gb, OFFLOAD_GPU_GB) \
                else ["Not reachable."]
        return ["Layers split between the GPU and system RAM: at best marginal, and the RAM "
                "side sets the speed."]
    return [f"{cpu:.1f} GiB in system RAM; cores set how much bandwidth is streamed."]


def make_plan(request: PlanRequest, base: SystemSpec) -> Plan:
    """Solve every run path for `request` on what-if variants of `base`."""
    solver = _Solver(request, base, request.quant or default_quant(request.model, base))
    current = solver.evaluate(current_hardware(base))
    kv, _ = effective_kv(current.runtime.code, KvCache(request.kv_quant, request.parallel))
    here = current_hardware(base)
    gpu = base.primary_gpu
    backend = gpu.backend if gpu else "CUDA"
    paths = tuple(solve_path(solver, mode, here, kv, backend) for mode in PATHS)
    return Plan(request, solver.quant, solver.context, kv, current, here, paths,
                best_path(paths, request.target_tps), current.runtime.code, backend,
                solver.weights)


def best_path(paths: tuple[PathPlan, ...], target: float | None) -> PathPlan | None:
    """The fastest path that reaches good (and the target, where given); else the fastest
    feasible one."""
    feasible = [p for p in paths if p.minimum is not None]
    good = [p for p in feasible if p.recommended is not None and p.target_reached is not False]
    chosen = good or feasible
    return chosen[0] if chosen else None
