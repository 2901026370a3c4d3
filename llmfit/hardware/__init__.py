"""Hardware probes -> a plain SystemSpec. Parsers are pure; probes degrade with a note.

Importing this package is cheap: psutil, pynvml and subprocess load only when a probe runs.
"""

from __future__ import annotations

from llmfit.hardware.amd import parse_rocm_smi, read_amd_sysfs
from llmfit.hardware.apple import apple_chip_name, apple_gpu_from_sysctl, apple_working_set_gib
from llmfit.hardware.cpu import parse_proc_cpuinfo, parse_sysctl
from llmfit.hardware.detect import arch_name, detect_system, os_name
from llmfit.hardware.intel import read_intel_sysfs
from llmfit.hardware.nvidia import parse_nvidia_smi_csv, read_nvml
from llmfit.hardware.overrides import (
    GpuChoice,
    apply_overrides,
    check_size_gib,
    parse_gpu_override,
    parse_size_gib,
)
from llmfit.hardware.probe import GpuReading, group_readings

__all__ = [
    "GpuChoice",
    "GpuReading",
    "apple_chip_name",
    "apple_gpu_from_sysctl",
    "apple_working_set_gib",
    "apply_overrides",
    "arch_name",
    "check_size_gib",
    "detect_system",
    "group_readings",
    "os_name",
    "parse_gpu_override",
    "parse_nvidia_smi_csv",
    "parse_proc_cpuinfo",
    "parse_rocm_smi",
    "parse_size_gib",
    "parse_sysctl",
    "read_amd_sysfs",
    "read_intel_sysfs",
    "read_nvml",
]
