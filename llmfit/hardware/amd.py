"""AMD GPUs: amdgpu sysfs first, `rocm-smi --json` as the fallback."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from llmfit.gpus import lookup_gpu, lookup_gpu_by_pci
from llmfit.hardware.probe import (
    GpuReading,
    ProbeError,
    bytes_to_gib,
    read_int,
    read_text,
    read_vendor_cards,
    run_command,
)

AMD_VENDOR = "1002"
ROCM_SMI_QUERY = ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"]
# Below this the "VRAM" is an APU's carve-out of system RAM, not a discrete card.
MIN_DISCRETE_VRAM_GIB = 1.0


def amd_name(reported: str | None, pci: str | None, vram_gib: float | None) -> str:
    """The table name when the card is known (driver strings are messy), else what we have."""
    model = lookup_gpu(reported, vram_gib) if reported else None
    if model is None and pci:
        model = lookup_gpu_by_pci(pci, vram_gib)
    if model is not None:
        return model.name
    return reported or f"AMD GPU {pci or '(unknown id)'}"


def read_amd_sysfs(sys_root: Path) -> tuple[list[GpuReading], list[str]]:
    """AMD cards from /sys/class/drm/card*/device (mem_info_vram_total/used, product_name)."""
    return read_vendor_cards(sys_root, AMD_VENDOR, _amd_card)


def _amd_card(card: Path, pci: str) -> tuple[GpuReading | None, str | None]:
    device = card / "device"
    total, used = read_int(device / "mem_info_vram_total"), read_int(device / "mem_info_vram_used")
    product = read_text(device / "product_name") or None
    if total is None:
        model = lookup_gpu_by_pci(pci)
        if model is None:
            return None, f"AMD: GPU {pci} found but its VRAM is unreadable (amdgpu not loaded?)"
        note = f"AMD: {model.name}: VRAM unreadable, assumed {model.vram_gib:g} GiB from the table"
        return GpuReading(model.name, model.vram_gib, None), note
    vram = bytes_to_gib(total)
    apu = lookup_gpu_by_pci(pci)
    if apu is not None and apu.unified_memory:  # Strix Halo: carve-out + GTT pool
        return _unified_apu(device, apu.name, total, used)
    if vram < MIN_DISCRETE_VRAM_GIB:
        return None, None  # integrated graphics: inference runs from system RAM
    free = bytes_to_gib(total - used) if used is not None else None
    return GpuReading(amd_name(product, pci, vram), vram, free), None


def _unified_apu(device: Path, name: str, vram_total: int, vram_used: int | None) -> tuple[GpuReading, str]:
    from llmfit.hardware.unified import strix_halo_pool_gib

    gtt, gtt_used = read_int(device / "mem_info_gtt_total"), read_int(device / "mem_info_gtt_used")
    pool = strix_halo_pool_gib(bytes_to_gib(vram_total), bytes_to_gib(gtt) if gtt else None, 0.0)
    used = bytes_to_gib((vram_used or 0) + (gtt_used or 0))
    note = (f"AMD: {name}: unified memory, GPU pool = {bytes_to_gib(vram_total):g} GiB carve-out "
            f"+ {bytes_to_gib(gtt or 0):g} GiB GTT")
    return GpuReading(name, pool, round(max(pool - used, 0.0), 2)), note


def parse_rocm_smi(text: str) -> list[GpuReading]:
    """Readings from `rocm-smi --showproductname --showmeminfo vram --json`."""
    start = text.find("{")  # rocm-smi may print warnings before the JSON
    try:
        document = json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        return []
    cards = [v for k, v in document.items() if k.lower().startswith("card") and isinstance(v, dict)]
    return [_rocm_card(card) for card in cards]


def _rocm_card(fields: dict[str, Any]) -> GpuReading:
    lowered = {str(k).lower(): str(v).strip() for k, v in fields.items()}
    total = _int(lowered.get("vram total memory (b)"))
    used = _int(lowered.get("vram total used memory (b)"))
    vram = bytes_to_gib(total) if total is not None else None
    free = bytes_to_gib(total - used) if total is not None and used is not None else None
    model_id = lowered.get("card model", "").lower().replace("0x", "")
    pci = f"{AMD_VENDOR}:{model_id}" if re.fullmatch(r"[0-9a-f]{4}", model_id) else None
    series = lowered.get("card series") or lowered.get("device name") or None
    return GpuReading(amd_name(series, pci, vram), vram, free)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def probe_amd(sys_root: Path) -> tuple[list[GpuReading], list[str]]:
    """AMD readings and notes: sysfs, else rocm-smi where it is installed."""
    readings, notes = read_amd_sysfs(sys_root)
    if readings:
        return readings, notes
    import shutil

    if shutil.which(ROCM_SMI_QUERY[0]) is None:
        return [], notes
    try:
        return parse_rocm_smi(run_command(ROCM_SMI_QUERY)), notes
    except ProbeError as problem:
        return [], notes + [f"AMD: not detected ({problem})"]


ROCM_TOOLS = ("rocminfo", "rocm-smi", "amd-smi", "hipconfig")
ROCM_ROOT = Path("/opt/rocm")


def amd_backend() -> tuple[str, list[str]]:
    """The llama.cpp backend AMD GPUs will run on here: ROCm where its runtime is installed,
    else Vulkan (which needs only the graphics driver); with a note in the Vulkan case."""
    import os
    import shutil

    if any(shutil.which(tool) for tool in ROCM_TOOLS) or os.environ.get("ROCM_PATH") \
            or ROCM_ROOT.is_dir():
        return "ROCm", []
    return "Vulkan", ["AMD: no ROCm runtime found (rocminfo, /opt/rocm); speeds are for "
                      "llama.cpp's Vulkan backend"]
