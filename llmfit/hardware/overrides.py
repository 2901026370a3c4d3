"""What-if overrides (--memory, --ram, --cpu-cores, --gpu): pure, validated at the edge."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from llmfit.errors import UsageError
from llmfit.gpus import GpuModel, lookup_gpu, suggest_gpu_names
from llmfit.hardware.apple import apple_working_set_gib
from llmfit.values import GpuDevice, SystemSpec

MAX_SIZE_GIB = 1024.0**2  # 1 PiB: anything above is a typo
MAX_CPU_CORES = 4096
MAX_GPU_COUNT = 64
# --memory with no GPU known: we do not know the card, so assume a mid-range discrete one
# (RTX 3070 / 4060 Ti 16GB class). Naming the card with --gpu gives its real bandwidth.
GENERIC_GPU_NAME = "GPU (override)"
GENERIC_GPU_BANDWIDTH_GBPS = 448.0

_SIZE = re.compile(
    r"^(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?:(?P<unit>[kmgt])(?:i?b)?)?$", re.IGNORECASE
)
_UNIT_GIB = {None: 1.0, "k": 1 / 1024**2, "m": 1 / 1024, "g": 1.0, "t": 1024.0}
_LEADING_COUNT = re.compile(r"^(?P<count>\d+)\s*[x×*]\s*(?P<name>.+)$", re.IGNORECASE)
_TRAILING_COUNT = re.compile(r"^(?P<name>.+?)\s+[x×*]\s*(?P<count>\d+)$", re.IGNORECASE)
_BACKEND_SUFFIX = re.compile(r"^(?P<term>.*?)\s*@\s*(?P<backend>[\w.-]*)$")
# The llama.cpp backends a card of each native backend can be estimated on ("RX 7900 XTX
# @ vulkan"). NVIDIA cards are estimated for CUDA only: the rows of NVIDIA cards on Vulkan
# are left out of the fit (llmfit/calibration.py), so no factors describe them.
BACKEND_CHOICES = {"ROCm": ("ROCm", "Vulkan"), "SYCL": ("SYCL", "Vulkan"), "CUDA": ("CUDA",),
                   "Metal": ("Metal",)}


@dataclass(frozen=True)
class GpuChoice:
    """One `--gpu` term: a device from the table and how many of it."""

    model: GpuModel
    count: int = 1
    backend: str | None = None  # a llama.cpp backend other than the card's own, from "@ vulkan"

    @property
    def runs_on(self) -> str:
        return self.backend or self.model.backend


def parse_size_gib(text: str) -> float:
    """A memory size in GiB from "24G", "24GB", "24gib", "24576M", "1.5T" or "512" (GiB)."""
    match = _SIZE.match(str(text).strip())
    if not match:
        raise UsageError(
            f"invalid size {_shown(text)}: use a number with an optional unit, "
            "like 24G, 24GB, 24576M or 1.5T (a plain number is GiB)"
        )
    unit = match.group("unit").lower() if match.group("unit") else None
    return check_size_gib(float(match.group("number")) * _UNIT_GIB[unit], "size", _shown(text))


def _shown(text: object) -> str:
    """A user's value quoted for an error message, cut short when it is very long."""
    text = str(text)
    return repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text):,} characters)"


def check_size_gib(value: float, what: str = "size", shown: str | None = None) -> float:
    """A size in GiB if it is a number above 0 and at most 1 PiB; else UsageError."""
    label = f"invalid {what} {shown if shown is not None else repr(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise UsageError(f"{label}: not a number")
    if value <= 0:
        raise UsageError(f"{label}: must be greater than 0")
    if value > MAX_SIZE_GIB:
        raise UsageError(f"{label}: larger than 1 PiB")
    return float(value)


def parse_gpu_override(text: str) -> list[GpuChoice]:
    """GPUs from "RTX 4090", "2x RTX 4090", "2 x RTX 4090" or "RTX 4090 + RTX 3090"; a term may
    end in "@ vulkan" (or "@ rocm", "@ sycl") to estimate the card on that llama.cpp backend."""
    # "Ryzen AI Max+ 395" is one name: a "+" right after "Max" is not the separator.
    terms = [term.strip() for term in re.split(r",|(?<![Mm][Aa][Xx])\+", str(text))]
    if not all(terms):
        raise UsageError(f"invalid --gpu value {text!r}: expected a GPU name like '2x RTX 4090'")
    choices = [_parse_gpu_term(term) for term in terms]
    _check_unified_alone(choices)
    return choices


def _parse_gpu_term(term: str) -> GpuChoice:
    backend = None
    if term.count("@") > 1:
        raise UsageError(f"invalid GPU {_shown(term)}: name one backend at most, like "
                         "'RX 7900 XTX @ vulkan'")
    if suffix := _BACKEND_SUFFIX.match(term):
        term, backend = suffix.group("term").strip(), suffix.group("backend")
    match = _LEADING_COUNT.match(term) or _TRAILING_COUNT.match(term)
    name, count = (match.group("name").strip(), int(match.group("count"))) if match else (term, 1)
    if not 1 <= count <= MAX_GPU_COUNT:
        raise UsageError(f"invalid GPU count in {term!r}: use 1 to {MAX_GPU_COUNT}")
    model = lookup_gpu(name)
    if model is None:
        close = suggest_gpu_names(name)
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown GPU {name!r}{hint}")
    return GpuChoice(model, count, _backend(model, backend))


def _backend(model: GpuModel, wanted: str | None) -> str | None:
    """The backend a "@ name" suffix asks for, if the card can be estimated on it."""
    if wanted is None:
        return None
    allowed = BACKEND_CHOICES.get(model.backend, (model.backend,))
    found = [b for b in allowed if b.lower() == wanted.lower()]
    if not found and len(allowed) == 1:
        raise UsageError(f"invalid backend {_shown(wanted)} for {model.name}: it is estimated "
                         f"on {allowed[0]} only")
    if not found:
        raise UsageError(f"invalid backend {_shown(wanted)} for {model.name}: use "
                         + " or ".join(f"@{b.lower()}" for b in allowed))
    return None if found[0] == model.backend else found[0]


def _check_unified_alone(choices: Sequence[GpuChoice]) -> None:
    unified = [c for c in choices if c.model.unified_memory]
    if unified and (len(choices) > 1 or unified[0].count > 1):
        raise UsageError(f"{unified[0].model.name} shares the machine's memory (an Apple chip, "
                         "Strix Halo or GB10): it cannot be combined with other GPUs or "
                         "counted twice")


def apply_overrides(
    spec: SystemSpec,
    *,
    memory_gib: float | None = None,
    ram_gib: float | None = None,
    cpu_cores: int | None = None,
    gpus: Sequence[str] = (),
) -> SystemSpec:
    """The spec with the user's what-if values applied, each one noted."""
    choices = [choice for text in gpus for choice in parse_gpu_override(text)]
    _check_unified_alone(choices)
    if ram_gib is not None:
        spec = _with_ram(spec, check_size_gib(ram_gib, "RAM size"))
    if choices:
        spec = _with_gpus(spec, choices, ram_given=ram_gib is not None)
    elif ram_gib is not None and spec.unified_memory:
        spec = _with_unified_pool(spec, apple_working_set_gib(spec.total_ram_gib))
    if memory_gib == 0:  # what-if vram_gb=0: the same machine without its GPUs
        spec = _noted(spec, "GPUs left out (GPU memory 0)", gpus=(), unified_memory=False)
    elif memory_gib is not None:
        spec = _with_gpu_memory(spec, check_size_gib(memory_gib, "GPU memory size"))
    if cpu_cores is not None:
        spec = _with_cores(spec, cpu_cores)
    return spec


def _noted(spec: SystemSpec, note: str, **changes: object) -> SystemSpec:
    return replace(spec, notes=(*spec.notes, note), **changes)  # type: ignore[arg-type]


def _with_ram(spec: SystemSpec, ram_gib: float) -> SystemSpec:
    note = f"RAM overridden to {ram_gib:.1f} GiB"
    return _noted(spec, note, total_ram_gib=ram_gib, available_ram_gib=ram_gib)


def _with_cores(spec: SystemSpec, cores: int) -> SystemSpec:
    if isinstance(cores, bool) or not isinstance(cores, int) or not 1 <= cores <= MAX_CPU_CORES:
        raise UsageError(f"invalid CPU core count {cores!r}: use a whole number 1-{MAX_CPU_CORES}")
    # Fewer cores stream proportionally less; more cores than measured gain nothing certain.
    stream = spec.cpu_bandwidth_gbps
    if stream and spec.cpu_cores:
        stream = stream * min(cores, spec.cpu_cores) / spec.cpu_cores
    return _noted(spec, f"CPU cores overridden to {cores}", cpu_cores=cores,
                  cpu_bandwidth_gbps=stream)


def _with_gpus(spec: SystemSpec, choices: list[GpuChoice], *, ram_given: bool) -> SystemSpec:
    label = " + ".join(f"{c.count}x {c.model.name}" + (f" on {c.backend}" if c.backend else "")
                       for c in choices)
    if choices[0].model.unified_memory and choices[0].model.backend != "Metal":
        spec = _with_unified_pc(spec, choices[0], ram_given)
        return _noted(spec, f"GPU overridden: {label}")
    if choices[0].model.unified_memory:
        spec = _with_apple_chip(spec, choices[0].model, ram_given)
        return _noted(spec, f"GPU overridden: {label}")
    devices = tuple(_table_device(c) for c in choices)
    cleared = replace(spec, unified_memory=False, ram_bandwidth_gbps=None)
    return _noted(cleared, f"GPUs overridden: {label}", gpus=devices)


def _table_device(choice: GpuChoice) -> GpuDevice:
    model = choice.model
    return GpuDevice(
        name=model.name,
        vram_gib=model.vram_gib,
        free_vram_gib=model.vram_gib,
        backend=choice.runs_on,
        count=choice.count,
        bandwidth_gbps=model.bandwidth_gbps,
    )


def _with_apple_chip(spec: SystemSpec, model: GpuModel, ram_given: bool) -> SystemSpec:
    """An Apple chip: unified memory, pool = working set of --ram or of the chip's base memory."""
    if not ram_given:
        note = f"RAM set to {model.vram_gib:.1f} GiB (base unified memory of {model.name})"
        spec = _noted(spec, note, total_ram_gib=model.vram_gib, available_ram_gib=model.vram_gib)
    pool = apple_working_set_gib(spec.total_ram_gib)
    device = GpuDevice(
        name=model.name,
        vram_gib=pool,
        free_vram_gib=pool,
        backend=model.backend,
        unified_memory=True,
        bandwidth_gbps=model.bandwidth_gbps,
    )
    return replace(
        spec,
        gpus=(device,),
        unified_memory=True,
        ram_bandwidth_gbps=model.bandwidth_gbps,
        os="macos",
        arch="arm64",
    )


def _with_unified_pc(spec: SystemSpec, choice: GpuChoice, ram_given: bool) -> SystemSpec:
    """Strix Halo or GB10: unified memory; the pool the runtime can use of --ram or 128 GB."""
    from llmfit.hardware.unified import simulated_pool_gib

    model, backend = choice.model, choice.runs_on
    if not ram_given:
        note = f"RAM set to {model.vram_gib:.1f} GiB (the usual memory of {model.name})"
        spec = _noted(spec, note, total_ram_gib=model.vram_gib, available_ram_gib=model.vram_gib)
    pool, note = simulated_pool_gib(model.name, backend, spec.os, spec.total_ram_gib)
    device = GpuDevice(name=model.name, vram_gib=pool, free_vram_gib=pool, backend=backend,
                       unified_memory=True, bandwidth_gbps=model.bandwidth_gbps)
    return _noted(spec, note, gpus=(device,), unified_memory=True,
                  ram_bandwidth_gbps=model.bandwidth_gbps)


def _with_unified_pool(spec: SystemSpec, pool_gib: float) -> SystemSpec:
    gpus = tuple(
        replace(g, vram_gib=pool_gib, free_vram_gib=pool_gib) if g.unified_memory else g
        for g in spec.gpus
    )
    return replace(spec, gpus=gpus)


def _with_gpu_memory(spec: SystemSpec, memory_gib: float) -> SystemSpec:
    note = f"GPU memory overridden to {memory_gib:.1f} GiB per GPU"
    if spec.gpus:
        gpus = tuple(replace(g, vram_gib=memory_gib, free_vram_gib=memory_gib) for g in spec.gpus)
        return _noted(spec, note, gpus=gpus)
    generic = GpuDevice(
        name=GENERIC_GPU_NAME,
        vram_gib=memory_gib,
        free_vram_gib=memory_gib,
        backend="CUDA",
        bandwidth_gbps=GENERIC_GPU_BANDWIDTH_GBPS,
    )
    note += f"; no GPU known, assuming a CUDA card with {GENERIC_GPU_BANDWIDTH_GBPS:g} GB/s"
    return _noted(spec, note, gpus=(generic,))
