"""AMD and Intel GPUs on Windows, from the registry's display-adapter class key.

Each adapter's subkey (0000, 0001 ...) holds `DriverDesc` (the name), `MatchingDeviceId`
(`PCI\\VEN_1002&DEV_744C...`) and `HardwareInformation.qwMemorySize`, the dedicated memory in
bytes as a 64-bit value (WMI's Win32_VideoController.AdapterRAM is 32-bit and stops at 4 GiB).
On a Strix Halo that is the BIOS carve-out, which is what the GPU can use on Windows. Read with
the standard library's `winreg`: no PowerShell start-up on the way to an answer. Windows reports
no free VRAM without vendor tools, so none is given. NVIDIA adapters are left to NVML.
"""

from __future__ import annotations

import re
from typing import Any

from llmfit.gpus import lookup_gpu, lookup_gpu_by_pci
from llmfit.hardware.probe import GpuReading, ProbeError, bytes_to_gib

DISPLAY_CLASS_KEY = r"SYSTEM\CurrentControlSet\Control\Class\{4d36e968-e325-11ce-bfc1-08002be10318}"
VALUES = ("DriverDesc", "MatchingDeviceId", "HardwareInformation.qwMemorySize")
VENDORS = {"1002": "AMD", "8086": "Intel"}
MIN_DISCRETE_VRAM_GIB = 1.0  # below: integrated graphics, which run from system RAM
_DEVICE_ID = re.compile(r"ven_([0-9a-f]{4})&dev_([0-9a-f]{4})", re.IGNORECASE)
WINDOWS_VULKAN_NOTE = ("Windows: {names} found in the registry; speeds are for llama.cpp's Vulkan "
                       "backend (its Windows releases and LM Studio use it on AMD and Intel "
                       "cards); free memory is not reported there")


def read_display_adapters() -> list[dict[str, Any]]:
    """The display adapters' values from the registry; ProbeError where it cannot be read."""
    import importlib

    try:
        winreg: Any = importlib.import_module("winreg")  # Any: its stubs are Windows-only
    except ImportError as exc:
        raise ProbeError("no Windows registry (winreg) here") from exc
    try:
        root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, DISPLAY_CLASS_KEY)
    except OSError as exc:
        raise ProbeError(f"display adapters unreadable ({exc})") from exc
    adapters: list[dict[str, Any]] = []
    with root:
        index = 0
        while True:
            try:
                name = winreg.EnumKey(root, index)
            except OSError:
                break  # no more subkeys
            index += 1
            if not name.isdigit():
                continue  # "Configuration", "Properties"
            adapters.append(_adapter_values(winreg, root, name))
    return adapters


def _adapter_values(winreg: Any, root: Any, subkey: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    try:
        with winreg.OpenKey(root, subkey) as key:
            for value in VALUES:
                try:
                    values[value] = winreg.QueryValueEx(key, value)[0]
                except OSError:
                    pass  # absent on this adapter
    except OSError:
        pass  # an adapter subkey we may not open: skipped
    return values


def probe_windows_gpus() -> tuple[list[GpuReading], list[str]]:
    """AMD and Intel readings from the registry, with a note saying what they are."""
    try:
        adapters = read_display_adapters()
    except ProbeError as problem:
        return [], [f"Windows: AMD and Intel GPUs not detected ({problem}); simulate one with "
                    "--gpu NAME"]
    readings = [r for r in (_reading(a) for a in adapters) if r is not None]
    if not readings:
        return [], []
    names = ", ".join(sorted({r.name for r in readings}))
    return readings, [WINDOWS_VULKAN_NOTE.format(names=names)]


def _reading(adapter: dict[str, Any]) -> GpuReading | None:
    match = _DEVICE_ID.search(str(adapter.get("MatchingDeviceId") or ""))
    if match is None or match.group(1).lower() not in VENDORS:
        return None
    pci = f"{match.group(1)}:{match.group(2)}".lower()
    size = adapter.get("HardwareInformation.qwMemorySize")
    vram = bytes_to_gib(size) if isinstance(size, int) and not isinstance(size, bool) \
        and size > 0 else None
    described = str(adapter.get("DriverDesc") or "").strip()
    # The name first: cards sharing a PCI id and a memory size (RX 9070 / 9070 XT) differ by it.
    model = (lookup_gpu(described, vram) if described else None) or lookup_gpu_by_pci(pci, vram)
    if model is not None and (model.unified_memory or vram is None):
        return GpuReading(model.name, vram if vram else model.vram_gib, None)
    if vram is None or vram < MIN_DISCRETE_VRAM_GIB:
        return None  # integrated graphics, or nothing known of its memory
    name = model.name if model else described or f"{VENDORS[match.group(1).lower()]} GPU {pci}"
    return GpuReading(name, vram, None)
