"""Hardware parsers on recorded output, probes with fakes, detect_system() degrading cleanly."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from llmfit.hardware import (
    GpuReading,
    apple_chip_name,
    apple_gpu_from_sysctl,
    apple_working_set_gib,
    arch_name,
    detect,
    detect_system,
    group_readings,
    nvidia,
    os_name,
    parse_nvidia_smi_csv,
    parse_proc_cpuinfo,
    parse_rocm_smi,
    parse_sysctl,
    read_amd_sysfs,
    read_intel_sysfs,
    read_nvml,
)
from llmfit.hardware.probe import ProbeError
from llmfit.values import GpuDevice, SystemSpec

FIXTURES = Path(__file__).parent / "fixtures" / "hardware"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- CPU -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cpuinfo-intel-i9-9900k.txt", "Intel(R) Core(TM) i9-9900K CPU @ 3.60GHz"),
        ("cpuinfo-amd-epyc-7763.txt", "AMD EPYC 7763 64-Core Processor"),
        ("cpuinfo-raspberry-pi-4.txt", "ARM Cortex-A72 (Raspberry Pi 4 Model B Rev 1.1)"),
    ],
)
def test_parse_proc_cpuinfo(name: str, expected: str) -> None:
    assert parse_proc_cpuinfo(fixture(name)) == expected


def test_parse_proc_cpuinfo_falls_back_to_hardware_line_and_gives_none_when_empty() -> None:
    text = "processor\t: 0\nHardware\t: Allwinner sun50i\n"
    assert parse_proc_cpuinfo(text) == "Allwinner sun50i"
    assert parse_proc_cpuinfo("") is None


def test_parse_sysctl_keeps_the_keys_llmfit_needs() -> None:
    assert parse_sysctl(fixture("sysctl-m2-max-32gb.txt")) == {
        "machdep.cpu.brand_string": "Apple M2 Max",
        "hw.memsize": "34359738368",
        "hw.physicalcpu": "12",
        "iogpu.wired_limit_mb": "0",
    }


# --- NVIDIA --------------------------------------------------------------------------------


def test_parse_nvidia_smi_one_rtx_4090() -> None:
    assert parse_nvidia_smi_csv(fixture("nvidia-smi-1x-rtx4090.csv")) == [
        GpuReading("NVIDIA GeForce RTX 4090", 23.99, 23.12)
    ]


def test_two_rtx_3090_group_into_one_device_with_mean_free_vram() -> None:
    readings = parse_nvidia_smi_csv(fixture("nvidia-smi-2x-rtx3090.csv"))
    assert group_readings(readings, "CUDA") == [
        GpuDevice("NVIDIA GeForce RTX 3090", 24.0, 12.58, "CUDA", count=2, bandwidth_gbps=936)
    ]


def test_eight_h100_sxm() -> None:
    devices = group_readings(parse_nvidia_smi_csv(fixture("nvidia-smi-8x-h100.csv")), "CUDA")
    assert devices == [
        GpuDevice("NVIDIA H100 80GB HBM3", 79.65, 79.11, "CUDA", count=8, bandwidth_gbps=3350)
    ]


def test_nvidia_smi_unsupported_fields_are_none() -> None:
    text = "NVIDIA GeForce RTX 3060, [N/A], [Not Supported]\nNo devices were found\n"
    assert parse_nvidia_smi_csv(text) == [GpuReading("NVIDIA GeForce RTX 3060", None, None)]


class _Memory:
    def __init__(self, total: int, free: int) -> None:
        self.total, self.free = total, free


def _fake_nvml(devices: list[tuple[Any, Any]], init_error: Exception | None = None) -> Any:
    """A stand-in for pynvml: (name or exception, memory or exception) per GPU."""

    def raise_or(value: Any) -> Any:
        if isinstance(value, Exception):
            raise value
        return value

    def init() -> None:
        if init_error:
            raise init_error

    module = types.ModuleType("pynvml")
    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: len(devices)  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    module.nvmlDeviceGetName = lambda h: raise_or(devices[h][0])  # type: ignore[attr-defined]
    module.nvmlDeviceGetMemoryInfo = lambda h: raise_or(devices[h][1])  # type: ignore[attr-defined]
    return module


GIB = 1024**3


def test_nvml_reads_each_field_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_nvml(
        [
            (b"NVIDIA GeForce RTX 4090", _Memory(24 * GIB, 20 * GIB)),
            ("NVIDIA GeForce RTX 4090", RuntimeError("NVML_ERROR_NO_PERMISSION")),
            (RuntimeError("NVML_ERROR_GPU_IS_LOST"), _Memory(8 * GIB, 8 * GIB)),
        ]
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert read_nvml() == [
        GpuReading("NVIDIA GeForce RTX 4090", 24.0, 20.0),
        GpuReading("NVIDIA GeForce RTX 4090", None, None),
        GpuReading("NVIDIA GPU 2", 8.0, 8.0),
    ]


def test_nvml_init_failure_falls_back_to_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml([], OSError("Driver Not Loaded")))
    monkeypatch.setattr(nvidia, "run_command", lambda argv: fixture("nvidia-smi-1x-rtx4090.csv"))
    readings, notes = nvidia.probe_nvidia()
    assert readings == [GpuReading("NVIDIA GeForce RTX 4090", 23.99, 23.12)]
    assert notes == ["NVIDIA: read with nvidia-smi (NVML unavailable: Driver Not Loaded)"]


def test_no_nvml_and_no_nvidia_smi_means_no_gpu_and_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails

    def missing(argv: list[str]) -> str:
        raise ProbeError("nvidia-smi not found")

    monkeypatch.setattr(nvidia, "run_command", missing)
    readings, notes = nvidia.probe_nvidia()
    assert readings == []
    assert len(notes) == 1 and notes[0].startswith("NVIDIA: not detected (NVML unavailable: ")
    assert notes[0].endswith("; nvidia-smi not found)")


# --- AMD -----------------------------------------------------------------------------------


def test_parse_rocm_smi_rx_7900_xtx() -> None:
    assert parse_rocm_smi(fixture("rocm-smi-rx7900xtx.json")) == [
        GpuReading("AMD Radeon RX 7900 XTX", 23.98, 22.69)
    ]


def test_parse_rocm_smi_garbage_is_empty() -> None:
    assert parse_rocm_smi("ERROR: GPU[0] : Unable to read") == []


def test_amd_sysfs_skips_the_apu_and_connectors() -> None:
    readings, notes = read_amd_sysfs(FIXTURES / "sysfs-amd-rx7900xtx")
    assert readings == [GpuReading("AMD Radeon RX 7900 XTX", 23.98, 22.69)]
    assert notes == []
    assert group_readings(readings, "ROCm")[0].bandwidth_gbps == 960


def test_amd_sysfs_without_vram_files_uses_the_table(tmp_path: Path) -> None:
    device = tmp_path / "class" / "drm" / "card0" / "device"
    device.mkdir(parents=True)
    (device / "vendor").write_text("0x1002\n")
    (device / "device").write_text("0x74a1\n")
    readings, notes = read_amd_sysfs(tmp_path)
    assert readings == [GpuReading("AMD Instinct MI300X", 192.0, None)]
    assert notes == ["AMD: AMD Instinct MI300X: VRAM unreadable, assumed 192 GiB from the table"]


def test_missing_sysfs_root_means_no_gpus(tmp_path: Path) -> None:
    assert read_amd_sysfs(tmp_path / "nothing") == ([], [])
    assert read_intel_sysfs(tmp_path / "nothing") == ([], [])


# --- Intel ---------------------------------------------------------------------------------


def test_intel_arc_a770_on_xe_reads_tile_vram_and_skips_the_igpu() -> None:
    readings, notes = read_intel_sysfs(FIXTURES / "sysfs-intel-arc-a770-xe")
    assert readings == [GpuReading("Intel Arc A770 16GB", 16.0, None)]
    assert notes == []


def test_intel_arc_a770_on_i915_backport_reads_lmem() -> None:
    readings, _ = read_intel_sysfs(FIXTURES / "sysfs-intel-arc-a770-i915")
    assert readings == [GpuReading("Intel Arc A770 16GB", 15.91, 15.46)]
    assert group_readings(readings, "SYCL")[0].bandwidth_gbps == 560


def test_intel_arc_on_mainline_i915_falls_back_to_the_table() -> None:
    readings, notes = read_intel_sysfs(FIXTURES / "sysfs-intel-arc-a750-mainline")
    assert readings == [GpuReading("Intel Arc A750", 8.0, None)]
    assert notes == ["Intel: Intel Arc A750: VRAM not in sysfs, assumed 8 GiB"]


# --- Apple ---------------------------------------------------------------------------------


def test_m2_max_32gb_pool_is_two_thirds_of_ram() -> None:
    device, notes = apple_gpu_from_sysctl(parse_sysctl(fixture("sysctl-m2-max-32gb.txt")))
    assert device == GpuDevice("Apple M2 Max", 21.33, 21.33, "Metal", 1, True, 400)
    assert notes == []


def test_m1_8gb_without_wired_limit_key() -> None:
    device, _ = apple_gpu_from_sysctl(parse_sysctl(fixture("sysctl-m1-8gb.txt")))
    assert device == GpuDevice("Apple M1", 5.33, 5.33, "Metal", 1, True, 68)


def test_working_set_limit() -> None:
    assert apple_working_set_gib(16) == 10.67
    assert apple_working_set_gib(36) == 27.0
    assert apple_working_set_gib(192) == 144.0
    assert apple_working_set_gib(64, wired_limit_mb=57344) == 56.0


def test_max_chips_are_told_apart_by_cpu_cores() -> None:
    assert apple_chip_name("Apple M3 Max", 14) == "Apple M3 Max (30-core GPU)"
    assert apple_chip_name("Apple M4 Max", 16) == "Apple M4 Max (40-core GPU)"
    assert apple_chip_name("Apple M2 Max", 12) == "Apple M2 Max"


def test_unknown_apple_chip_has_unknown_bandwidth_and_a_note() -> None:
    device, notes = apple_gpu_from_sysctl(
        {"machdep.cpu.brand_string": "Apple M9", "hw.memsize": str(24 * GIB)}
    )
    assert device is not None and device.bandwidth_gbps is None and device.vram_gib == 16.0
    assert notes == ["Apple M9: not in the device table; memory bandwidth unknown"]


def test_intel_mac_is_not_apple_silicon() -> None:
    values = {"machdep.cpu.brand_string": "Intel(R) Core(TM) i7-9750H", "hw.memsize": "1"}
    assert apple_gpu_from_sysctl(values) == (None, [])


# --- detect_system -------------------------------------------------------------------------


def test_os_and_arch_names() -> None:
    assert [os_name(p) for p in ("linux", "darwin", "win32", "freebsd14")] == [
        "linux",
        "macos",
        "windows",
        "freebsd14",
    ]
    assert [arch_name(m) for m in ("x86_64", "AMD64", "aarch64", "arm64", "riscv64")] == [
        "x86_64",
        "x86_64",
        "arm64",
        "arm64",
        "riscv64",
    ]


@pytest.fixture
def no_nvidia(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pynvml and no tool on PATH: detection never touches a real driver."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr("shutil.which", lambda name: None)


def test_detect_system_on_this_machine_without_gpu(
    no_nvidia: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(detect, "os_name", lambda: "linux")  # the Linux probes, on any host
    spec = detect_system(sys_root=tmp_path)
    assert isinstance(spec, SystemSpec)
    assert spec.cpu_name.strip() and spec.cpu_cores >= 1
    assert spec.total_ram_gib > 0 and 0 <= spec.available_ram_gib <= spec.total_ram_gib
    assert spec.gpus == () and spec.backend in ("CPU (x86)", "CPU (ARM)")
    assert spec.unified_memory is False and spec.ram_bandwidth_gbps is None
    nvidia_notes = [n for n in spec.notes if n.startswith("NVIDIA")]
    assert len(nvidia_notes) == 1
    assert nvidia_notes[0].startswith("NVIDIA: not detected (NVML unavailable: ")


def test_detect_system_linux_with_amd_card(
    no_nvidia: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(detect, "os_name", lambda: "linux")
    # No cpuinfo under proc_root: the CPU name falls back to platform, never empty.
    # No ROCm runtime here (the fixture hides every tool): llama.cpp would run on Vulkan.
    monkeypatch.setattr("llmfit.hardware.amd.ROCM_ROOT", tmp_path / "no-rocm")
    monkeypatch.delenv("ROCM_PATH", raising=False)
    spec = detect_system(sys_root=FIXTURES / "sysfs-amd-rx7900xtx", proc_root=tmp_path)
    assert spec.gpus == (GpuDevice("AMD Radeon RX 7900 XTX", 23.98, 22.69, "Vulkan", 1, False, 960),)
    assert spec.backend == "Vulkan" and spec.unified_memory is False
    assert any("no ROCm runtime found" in n for n in spec.notes)
    assert spec.cpu_name.strip()
    # With ROCm installed, its backend.
    (tmp_path / "rocm").mkdir()
    monkeypatch.setattr("llmfit.hardware.amd.ROCM_ROOT", tmp_path / "rocm")
    spec = detect_system(sys_root=FIXTURES / "sysfs-amd-rx7900xtx", proc_root=tmp_path)
    assert spec.backend == "ROCm" and not any("ROCm runtime" in n for n in spec.notes)


def test_detect_system_orders_nvidia_before_amd(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_nvml([("NVIDIA GeForce RTX 3090", _Memory(24 * GIB, 23 * GIB))])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(detect, "os_name", lambda: "linux")
    monkeypatch.setattr("shutil.which", lambda name: None)
    spec = detect_system(sys_root=FIXTURES / "sysfs-amd-rx7900xtx")
    assert [g.name for g in spec.gpus] == ["NVIDIA GeForce RTX 3090", "AMD Radeon RX 7900 XTX"]
    assert spec.gpu_count == 2 and spec.backend == "CUDA"
    assert not [n for n in spec.notes if n.startswith("NVIDIA")]


def test_detect_system_on_windows_with_nvidia_says_speeds_are_for_linux(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _fake_nvml([("NVIDIA GeForce RTX 5090", _Memory(32 * GIB, 31 * GIB))])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(detect, "os_name", lambda: "windows")
    spec = detect_system(sys_root=tmp_path)
    assert [g.name for g in spec.gpus] == ["NVIDIA GeForce RTX 5090"]
    assert detect.WINDOWS_CUDA_NOTE in spec.notes
    # AMD/Intel come from the registry, which this host lacks: a note says so.
    assert any(n.startswith("Windows: AMD and Intel GPUs not detected") for n in spec.notes)
    monkeypatch.setattr(detect, "os_name", lambda: "linux")  # same card on Linux: no such note
    notes = detect_system(sys_root=tmp_path).notes
    assert detect.WINDOWS_CUDA_NOTE not in notes
    assert not any(n.startswith("Windows:") for n in notes)


def test_detect_system_on_apple_silicon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(detect, "os_name", lambda: "macos")
    monkeypatch.setattr(detect, "arch_name", lambda: "arm64")
    monkeypatch.setattr(
        detect, "read_macos_sysctl", lambda: parse_sysctl(fixture("sysctl-m2-max-32gb.txt"))
    )
    spec = detect_system(sys_root=tmp_path)
    assert spec.cpu_name == "Apple M2 Max"
    assert spec.gpus == (GpuDevice("Apple M2 Max", 21.33, 21.33, "Metal", 1, True, 400),)
    assert spec.unified_memory and spec.ram_bandwidth_gbps == 400 and spec.backend == "Metal"


def test_unknown_card_gets_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_nvml([("NVIDIA Future GPU 9000", _Memory(48 * GIB, 48 * GIB))])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(detect, "os_name", lambda: "linux")
    monkeypatch.setattr("shutil.which", lambda name: None)
    spec = detect_system(sys_root=tmp_path)
    assert spec.gpus[0].bandwidth_gbps is None
    assert "NVIDIA Future GPU 9000: not in the device table; memory bandwidth unknown" in spec.notes


def test_importing_hardware_loads_no_driver_library() -> None:
    import subprocess

    code = "import sys, llmfit.hardware; print(sorted({'psutil','pynvml'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- sanitising probe readings ---------------------------------------------------------------


@pytest.mark.parametrize("total, free, expect_vram, expect_free", [
    (float("nan"), 20 * GIB, None, 20.0),
    (24 * GIB, float("inf"), 24.0, None),
    (24 * GIB, 48 * GIB, 24.0, 24.0),  # free larger than total: the total
    (-24 * GIB, -5 * GIB, None, None),
])
def test_odd_driver_values_are_dropped_with_a_note(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                  total: float, free: float,
                                                  expect_vram: float | None,
                                                  expect_free: float | None) -> None:
    fake = _fake_nvml([("NVIDIA GeForce RTX 4090", _Memory(total, free))])  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(detect, "os_name", lambda: "linux")
    monkeypatch.setattr("shutil.which", lambda name: None)
    spec = detect_system(sys_root=tmp_path)
    (gpu,) = spec.gpus
    assert gpu.vram_gib == expect_vram
    assert gpu.free_vram_gib == (None if expect_free is None else pytest.approx(expect_free, abs=0.01))
    assert any("RTX 4090" in n and ("ignored" in n or "exceeds" in n) for n in spec.notes)


def test_a_24_gb_card_with_absurd_free_memory_is_not_told_a_671b_model_fits(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, service_for) -> None:
    from llmfit.query import parse_query

    fake = _fake_nvml([("NVIDIA GeForce RTX 4090", _Memory(24 * GIB, 10**6 * GIB))])
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(detect, "os_name", lambda: "linux")
    monkeypatch.setattr("shutil.which", lambda name: None)
    spec = detect_system(sys_root=tmp_path)
    body = service_for(spec).models_body(parse_query({"search": "deepseek-ai/DeepSeek-V3"}))
    assert body["models"] and all(r["fit_level"] == "too_tight" or r["run_mode"] != "gpu"
                                  for r in body["models"])
