"""Intel discrete GPUs (Arc) from sysfs, for both the i915 and the xe kernel drivers.

Where the VRAM size lives (there is no single stable ABI):
- xe driver (mainline): `cardN/device/tileK/physical_vram_size_bytes`, one per tile.
- i915 out-of-tree DKMS/backport driver: `cardN/lmem_total_bytes` (also spelled
  `prelim_lmem_total_bytes`), with `lmem_avail_bytes` for the free part; some trees put them
  on `cardN/device`.
- mainline i915 exposes no VRAM total: the device table's VRAM for the PCI id is used instead.
Integrated GPUs (no local memory, not an Arc id in the table) are skipped: they run from RAM.
"""

from __future__ import annotations

from pathlib import Path

from llmfit.gpus import lookup_gpu_by_pci
from llmfit.hardware.probe import (
    GpuReading,
    bytes_to_gib,
    read_int,
    read_vendor_cards,
)

INTEL_VENDOR = "8086"
_LMEM_TOTAL = ("lmem_total_bytes", "prelim_lmem_total_bytes")
_LMEM_FREE = ("lmem_avail_bytes", "prelim_lmem_avail_bytes")


def read_intel_sysfs(sys_root: Path) -> tuple[list[GpuReading], list[str]]:
    """Intel discrete cards under sys_root/class/drm, with notes where VRAM had to be assumed."""
    return read_vendor_cards(sys_root, INTEL_VENDOR, _intel_card)


def _intel_card(card: Path, pci: str) -> tuple[GpuReading | None, str | None]:
    total = intel_vram_bytes(card)
    model = lookup_gpu_by_pci(pci, bytes_to_gib(total) if total else None)
    if total is None:
        if model is None:
            return None, None  # integrated graphics
        note = f"Intel: {model.name}: VRAM not in sysfs, assumed {model.vram_gib:g} GiB"
        return GpuReading(model.name, model.vram_gib, None), note
    vram = bytes_to_gib(total)
    free = _first_int(card, _LMEM_FREE)
    name = model.name if model else f"Intel GPU {pci}"
    return GpuReading(name, vram, bytes_to_gib(free) if free is not None else None), None


def intel_vram_bytes(card: Path) -> int | None:
    """Local-memory size of one DRM card in bytes (i915 lmem or xe tiles), or None."""
    lmem = _first_int(card, _LMEM_TOTAL)
    if lmem:
        return lmem
    tiles = sorted((card / "device").glob("tile*/physical_vram_size_bytes"))
    sizes = [size for size in (read_int(tile) for tile in tiles) if size]
    return sum(sizes) if sizes else None


def _first_int(card: Path, names: tuple[str, ...]) -> int | None:
    for directory in (card, card / "device"):
        for name in names:
            value = read_int(directory / name)
            if value is not None:
                return value
    return None
