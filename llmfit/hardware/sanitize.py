"""The one place where probe readings become a SystemSpec a user can trust: every figure finite
and non-negative, free memory at most total; anything else is dropped with a note."""

from __future__ import annotations

import math
from dataclasses import replace

from llmfit.values import GpuDevice, SystemSpec


def _ok(value: float | None) -> bool:
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0)


def _gpu(gpu: GpuDevice, notes: list[str]) -> GpuDevice:
    vram, free, bw = gpu.vram_gib, gpu.free_vram_gib, gpu.bandwidth_gbps
    if not _ok(vram):
        notes.append(f"{gpu.name}: the driver reported VRAM {vram!r}; ignored")
        vram = None
    if not _ok(free):
        notes.append(f"{gpu.name}: the driver reported free VRAM {free!r}; ignored")
        free = None
    if free is not None and vram is not None and free > vram:
        notes.append(f"{gpu.name}: free VRAM {free:g} GiB exceeds the total {vram:g} GiB; "
                     "the total is used")
        free = vram
    if not _ok(bw) or bw == 0:
        bw = None
    return replace(gpu, vram_gib=vram, free_vram_gib=free, bandwidth_gbps=bw)


def sane_system(spec: SystemSpec) -> SystemSpec:
    """The spec with impossible readings removed (each with a note)."""
    notes = list(spec.notes)
    total, available = spec.total_ram_gib, spec.available_ram_gib
    if not _ok(total) or total == 0:
        notes.append(f"RAM reported as {total!r}; treated as unknown (0)")
        total = 0.0
    if not _ok(available):
        notes.append(f"available RAM reported as {available!r}; the total is used")
        available = total
    available = min(available, total)
    stream = spec.cpu_bandwidth_gbps if _ok(spec.cpu_bandwidth_gbps) and spec.cpu_bandwidth_gbps else None
    ram_bw = spec.ram_bandwidth_gbps if _ok(spec.ram_bandwidth_gbps) and spec.ram_bandwidth_gbps else None
    gpus = tuple(_gpu(g, notes) for g in spec.gpus if g.count >= 1)
    return replace(spec, total_ram_gib=float(total), available_ram_gib=float(available),
                   cpu_cores=max(int(spec.cpu_cores or 1), 1), gpus=gpus,
                   cpu_bandwidth_gbps=stream, ram_bandwidth_gbps=ram_bw, notes=tuple(notes))
