"""Apple Silicon: chip name from sysctl, the Metal working-set limit as the GPU pool."""

from __future__ import annotations

from llmfit.gpus import lookup_gpu
from llmfit.hardware.cpu import sysctl_int
from llmfit.hardware.probe import GIB
from llmfit.values import GpuDevice

# recommendedMaxWorkingSetSize is about 2/3 of RAM on small Macs and 3/4 from 36 GiB up
# (estimation.md §3); `iogpu.wired_limit_mb` overrides it when set (0 means unset).
LARGE_MAC_RAM_GIB = 36.0
SMALL_MAC_SHARE = 2 / 3
LARGE_MAC_SHARE = 3 / 4

# Max chips come in two GPU sizes with different bandwidth; the CPU core count tells them
# apart (Apple tech specs: 14-core CPU -> the smaller GPU, 16-core CPU -> the 40-core GPU).
_MAX_VARIANTS = {
    ("Apple M3 Max", 14): "Apple M3 Max (30-core GPU)",
    ("Apple M3 Max", 16): "Apple M3 Max (40-core GPU)",
    ("Apple M4 Max", 14): "Apple M4 Max (32-core GPU)",
    ("Apple M4 Max", 16): "Apple M4 Max (40-core GPU)",
}


def apple_working_set_gib(ram_gib: float, wired_limit_mb: int | None = None) -> float:
    """The memory Metal lets the GPU wire: iogpu.wired_limit_mb if set, else 2/3 or 3/4 of RAM."""
    if wired_limit_mb:
        return round(wired_limit_mb / 1024, 2)
    share = LARGE_MAC_SHARE if ram_gib >= LARGE_MAC_RAM_GIB else SMALL_MAC_SHARE
    return round(ram_gib * share, 2)


def apple_chip_name(brand: str, physical_cores: int | None) -> str:
    """The device-table name of a chip ("Apple M3 Max" + 16 cores -> the 40-core GPU part)."""
    brand = " ".join(brand.split())
    return _MAX_VARIANTS.get((brand, physical_cores or 0), brand)


def apple_gpu_from_sysctl(values: dict[str, str]) -> tuple[GpuDevice | None, list[str]]:
    """The Apple GPU described by parsed sysctl values, with notes; None if not Apple Silicon."""
    brand = values.get("machdep.cpu.brand_string", "")
    memsize = sysctl_int(values, "hw.memsize")
    if not brand.startswith("Apple M") or not memsize:
        return None, []
    name = apple_chip_name(brand, sysctl_int(values, "hw.physicalcpu"))
    model = lookup_gpu(name)
    pool = apple_working_set_gib(memsize / GIB, sysctl_int(values, "iogpu.wired_limit_mb"))
    device = GpuDevice(
        name=model.name if model else name,
        vram_gib=pool,
        free_vram_gib=pool,
        backend="Metal",
        unified_memory=True,
        bandwidth_gbps=model.bandwidth_gbps if model else None,
    )
    notes = [] if model else [f"{name}: not in the device table; memory bandwidth unknown"]
    return device, notes
