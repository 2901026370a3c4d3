"""AMD and Intel GPUs on Windows, read from the registry through a stand-in `winreg` module
(the real one exists only on Windows) that serves recorded display-adapter keys."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from llmfit.hardware import detect
from llmfit.hardware.windows import DISPLAY_CLASS_KEY, probe_windows_gpus
from llmfit.values import GpuDevice

GIB = 1024**3
HKLM = object()


class _Key:
    def __init__(self, children: dict[str, Any]) -> None:
        self.children = children

    def __enter__(self) -> "_Key":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def fake_winreg(adapters: dict[str, dict[str, Any]], *, unreadable: bool = False) -> Any:
    """A `winreg` with the display-adapter class key holding `adapters` (subkey -> values)."""
    module = types.ModuleType("winreg")
    module.HKEY_LOCAL_MACHINE = HKLM  # type: ignore[attr-defined]

    def open_key(parent: Any, path: str) -> _Key:
        if parent is HKLM:
            if unreadable or path != DISPLAY_CLASS_KEY:
                raise PermissionError(13, "Access is denied")
            return _Key(adapters)
        if path not in parent.children or parent.children[path] is None:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return _Key(parent.children[path])

    def enum_key(key: _Key, index: int) -> str:
        names = list(key.children)
        if index >= len(names):
            raise OSError(259, "No more data is available")
        return names[index]

    def query_value(key: _Key, name: str) -> tuple[Any, int]:
        if name not in key.children:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return key.children[name], 1

    module.OpenKey = open_key  # type: ignore[attr-defined]
    module.EnumKey = enum_key  # type: ignore[attr-defined]
    module.QueryValueEx = query_value  # type: ignore[attr-defined]
    return module


# Recorded shapes of a desktop with an RTX 4090, an RX 7900 XTX and the CPU's UHD graphics.
DESKTOP = {
    "0000": {"DriverDesc": "NVIDIA GeForce RTX 4090",
             "MatchingDeviceId": "pci\\ven_10de&dev_2684",
             "HardwareInformation.qwMemorySize": 24 * GIB},
    "0001": {"DriverDesc": "AMD Radeon RX 7900 XTX",
             "MatchingDeviceId": "PCI\\VEN_1002&DEV_744C&REV_C8",
             "HardwareInformation.qwMemorySize": 24 * GIB},
    "0002": {"DriverDesc": "Intel(R) UHD Graphics 770",
             "MatchingDeviceId": "PCI\\VEN_8086&DEV_4680&REV_0C",
             "HardwareInformation.qwMemorySize": 128 * 1024**2},
    "Configuration": {},
    "Properties": None,  # a subkey the user may not open
}


def test_registry_adapters_become_readings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "winreg", fake_winreg(DESKTOP))
    readings, notes = probe_windows_gpus()
    # NVIDIA is NVML's; the 128 MiB integrated GPU runs from RAM; the Radeon is found by its id.
    assert [(r.name, r.vram_gib, r.free_vram_gib) for r in readings] == [
        ("AMD Radeon RX 7900 XTX", 24.0, None)]
    assert notes == ["Windows: AMD Radeon RX 7900 XTX found in the registry; speeds are for "
                     "llama.cpp's Vulkan backend (its Windows releases and LM Studio use it on AMD "
                     "and Intel cards); free memory is not reported there"]


def test_strix_halo_on_windows_is_its_carve_out(monkeypatch: pytest.MonkeyPatch) -> None:
    adapters = {"0000": {"DriverDesc": "AMD Radeon(TM) 8060S Graphics",
                         "MatchingDeviceId": "PCI\\VEN_1002&DEV_1586&SUBSYS_00000000",
                         "HardwareInformation.qwMemorySize": 96 * GIB}}
    monkeypatch.setitem(sys.modules, "winreg", fake_winreg(adapters))
    readings, _ = probe_windows_gpus()
    assert [(r.name, r.vram_gib) for r in readings] == [("AMD Radeon 8060S", 96.0)]


@pytest.mark.parametrize("size", [None, b"\x00\x00\x00\x80\x05\x00\x00\x00", -1, True, "24G"])
def test_odd_memory_values_fall_back_to_the_table(monkeypatch: pytest.MonkeyPatch,
                                                  size: Any) -> None:
    values = {"DriverDesc": "AMD Radeon RX 9070 XT",
              "MatchingDeviceId": "PCI\\VEN_1002&DEV_7550&REV_C0"}
    if size is not None:
        values["HardwareInformation.qwMemorySize"] = size
    monkeypatch.setitem(sys.modules, "winreg", fake_winreg({"0000": values}))
    readings, _ = probe_windows_gpus()
    assert [(r.name, r.vram_gib) for r in readings] == [("AMD Radeon RX 9070 XT", 16.0)]


def test_an_unreadable_registry_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "winreg", fake_winreg(DESKTOP, unreadable=True))
    readings, notes = probe_windows_gpus()
    assert readings == []
    assert notes[0].startswith("Windows: AMD and Intel GPUs not detected (display adapters "
                               "unreadable (")
    monkeypatch.setitem(sys.modules, "winreg", None)  # not Windows at all
    assert probe_windows_gpus() == ([], [
        "Windows: AMD and Intel GPUs not detected (no Windows registry (winreg) here); "
        "simulate one with --gpu NAME"])


def test_detect_system_on_windows_finds_the_radeon(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(detect, "os_name", lambda: "windows")
    monkeypatch.setitem(sys.modules, "winreg", fake_winreg(DESKTOP))
    spec = detect.detect_system(sys_root=tmp_path)
    assert spec.gpus == (GpuDevice("AMD Radeon RX 7900 XTX", 24.0, None, "Vulkan", 1, False, 960),)
    assert spec.backend == "Vulkan"
    assert any(n.startswith("Windows: AMD Radeon RX 7900 XTX found in the registry")
               for n in spec.notes)
