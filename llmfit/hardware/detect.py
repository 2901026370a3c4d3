"""detect_system(): every probe together, degrading to "not detected" with a note."""

from __future__ import annotations

import sys
from pathlib import Path

from llmfit.hardware.amd import amd_backend, probe_amd
from llmfit.hardware.apple import apple_gpu_from_sysctl
from llmfit.hardware.cpu import cpu_name_for, read_cpu_cores, read_macos_sysctl, read_ram_gib
from llmfit.hardware.intel import read_intel_sysfs
from llmfit.hardware.nvidia import probe_nvidia
from llmfit.hardware.probe import ProbeError, group_readings
from llmfit.values import GpuDevice, SystemSpec

_OS_NAMES = {"linux": "linux", "darwin": "macos", "win32": "windows", "cygwin": "windows"}
_ARCH_NAMES = {"amd64": "x86_64", "x64": "x86_64", "x86_64": "x86_64", "aarch64": "arm64"}


def os_name(platform_id: str | None = None) -> str:
    """The OS label: linux, macos, windows, or the raw sys.platform for anything else."""
    platform_id = platform_id or sys.platform
    return next((v for k, v in _OS_NAMES.items() if platform_id.startswith(k)), platform_id)


def arch_name(machine: str | None = None) -> str:
    """platform.machine() normalised: "x86_64" or "arm64" (others lower-cased as they are)."""
    import platform

    machine = (machine if machine is not None else platform.machine()).lower()
    if machine.startswith("armv8") or machine == "arm64":
        return "arm64"
    return _ARCH_NAMES.get(machine, machine or "unknown")


# The speed data are almost all Linux runs (WSL2 included). The one published same-build
# Windows/Linux comparison on an RTX 5090 (llama.cpp #28196) was withdrawn by its author (another
# app held the GPU during the Windows runs), so no Windows factor is fitted; #20835 reports a
# Windows-only regression of MoE decode (2-3x slower after build b8323).
WINDOWS_CUDA_NOTE = ("Windows: speeds are estimated from llama.cpp results measured on Linux; "
                     "Windows builds have had MoE regressions of their own (llama.cpp #20835), "
                     "so compare with `llmfit bench` on this machine")



def detect_system(*, sys_root: Path = Path("/sys"), proc_root: Path = Path("/proc"),
                  measure_refresh: bool = False) -> SystemSpec:
    """The machine as its probes see it; never raises on missing hardware or drivers."""
    system, arch = os_name(), arch_name()
    notes: list[str] = []
    sysctl = _macos_sysctl(notes) if system == "macos" else {}
    total_ram, available_ram, ram_note = read_ram_gib()
    notes += [ram_note] if ram_note else []
    gpus = _detect_gpus(system, arch, sys_root, sysctl, notes)
    from llmfit.hardware.unified import with_unified_pcs

    gpus, unified_notes = with_unified_pcs(gpus, available_ram)
    notes += unified_notes
    apple = next((g for g in gpus if g.unified_memory), None)
    notes += [
        f"{g.name}: not in the device table; memory bandwidth unknown"
        for g in gpus
        if g.bandwidth_gbps is None and not g.unified_memory
    ]
    cores, cpu_name = read_cpu_cores(), cpu_name_for(system, proc_root, sysctl)
    from llmfit.hardware.membw import cpu_stream_bandwidth

    stream, _ = cpu_stream_bandwidth(cpu_name, cores, refresh=measure_refresh)
    if stream is None:
        notes.append("CPU memory bandwidth not measured (LLMFIT_NO_MEASURE); it is assumed")
    from llmfit.hardware.sanitize import sane_system

    return sane_system(SystemSpec(
        total_ram_gib=total_ram,
        available_ram_gib=available_ram,
        cpu_cores=cores,
        cpu_name=cpu_name,
        gpus=tuple(gpus),
        unified_memory=apple is not None,
        os=system,
        arch=arch,
        ram_bandwidth_gbps=apple.bandwidth_gbps if apple else None,
        cpu_bandwidth_gbps=stream,
        notes=tuple(notes),
    ))


def _macos_sysctl(notes: list[str]) -> dict[str, str]:
    try:
        return read_macos_sysctl()
    except ProbeError as problem:
        notes.append(f"macOS: sysctl unreadable ({problem})")
        return {}


def _detect_gpus(
    system: str, arch: str, sys_root: Path, sysctl: dict[str, str], notes: list[str]
) -> list[GpuDevice]:
    """GPUs in the order NVIDIA, AMD, Intel, Apple; notes appended in place."""
    gpus: list[GpuDevice] = []
    if system in ("linux", "windows"):
        readings, found = probe_nvidia()
        gpus += group_readings(readings, "CUDA")
        notes += found
        if system == "windows" and readings:
            notes.append(WINDOWS_CUDA_NOTE)
    if system == "windows":
        from llmfit.hardware.windows import probe_windows_gpus

        readings, found = probe_windows_gpus()
        gpus += group_readings(readings, "Vulkan")
        notes += found
    if system == "linux":
        readings, found = probe_amd(sys_root)
        if readings:
            backend, why = amd_backend()
            gpus += group_readings(readings, backend)
            notes += why
        notes += found
        readings, found = read_intel_sysfs(sys_root)
        gpus += group_readings(readings, "SYCL")
        notes += found
    if system == "macos" and arch == "arm64":
        apple, found = apple_gpu_from_sysctl(sysctl)
        gpus += [apple] if apple else []
        notes += found
    return gpus
