"""Unified-memory PCs (AMD Strix Halo, NVIDIA GB10 / DGX Spark): the share of system RAM the GPU
runtime can really allocate, which is neither "VRAM" nor all of the RAM.

- Strix Halo on Linux: the BIOS carve-out (mem_info_vram_total) plus the GTT pool
  (mem_info_gtt_total). The kernel's default GTT is max(3 GB, RAM / 2); `ttm.pages_limit`
  (or the older `amdgpu.gttsize`) raises it to ~124 GiB on a 128 GB box, and llama.cpp's
  Vulkan/ROCm backends allocate from both (AMD ROCm docs; kyuz0/amd-strix-halo-toolboxes).
  On Windows the GPU sees the carve-out ("Variable Graphics Memory", up to 96 GB of 128).
- GB10: NVML reports no memory ("Not Supported"); CUDA allocates from system RAM, and llama.cpp
  sizes such devices by MemAvailable (llama.cpp PR #17368), so the pool is the available RAM.
"""

from __future__ import annotations

from dataclasses import replace

from llmfit.values import GpuDevice

GIB = 2**30
DEFAULT_GTT_FLOOR_GIB = 3 * 10**9 / GIB  # the kernel's minimum GTT: 3 GB


def strix_halo_pool_gib(carve_out_gib: float, gtt_gib: float | None, total_ram_gib: float) -> float:
    """Carve-out + GTT (the kernel default when GTT is unknown: max(3 GB, RAM / 2))."""
    gtt = gtt_gib if gtt_gib is not None else max(DEFAULT_GTT_FLOOR_GIB, total_ram_gib / 2)
    return round(carve_out_gib + gtt, 2)


def is_unified_pc(name: str) -> bool:
    """A non-Apple GPU that shares system RAM (the device table's unified, non-Metal rows)."""
    from llmfit.gpus import lookup_gpu

    model = lookup_gpu(name)
    return bool(model and model.unified_memory and model.backend != "Metal")


def gb10_device(device: GpuDevice, available_ram_gib: float) -> GpuDevice:
    """A GB10 as CUDA sees it: its pool is the available system RAM."""
    return replace(device, vram_gib=available_ram_gib, free_vram_gib=available_ram_gib,
                   unified_memory=True)


def with_unified_pcs(gpus: list[GpuDevice], available_ram_gib: float) -> tuple[list[GpuDevice], list[str]]:
    """Mark unified PCs as such; a GB10 without a memory reading gets the RAM pool."""
    out, notes = [], []
    for gpu in gpus:
        if not is_unified_pc(gpu.name):
            out.append(gpu)
            continue
        if gpu.backend == "CUDA":
            gpu = gb10_device(gpu, available_ram_gib)
            notes.append(f"{gpu.name}: unified memory; the GPU pool is the available RAM "
                         f"({available_ram_gib:.1f} GiB)")
        out.append(replace(gpu, unified_memory=True))
    return out, notes


def simulated_pool_gib(name: str, backend: str, os_name: str, ram_gib: float) -> tuple[float, str]:
    """The pool of a unified PC named with --gpu: (GiB, how it was sized)."""
    if backend == "CUDA":
        pool = round(ram_gib * 0.95, 2)
        return pool, f"{name}: GPU pool {pool:.1f} GiB (RAM less what the OS keeps)"
    if os_name == "windows":
        pool = round(ram_gib * 0.75, 2)
        return pool, f"{name}: GPU pool {pool:.1f} GiB (BIOS carve-out at its 3/4 maximum)"
    pool = strix_halo_pool_gib(0.5, None, ram_gib)
    return pool, (f"{name}: GPU pool {pool:.1f} GiB (512 MB carve-out + default GTT of half the "
                  "RAM; raise it with ttm.pages_limit)")
