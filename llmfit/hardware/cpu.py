"""CPU name, cores and RAM: /proc/cpuinfo and sysctl parsers, psutil probe."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from llmfit.hardware.probe import GIB, read_text, run_command

# The macOS keys llmfit reads (`sysctl <keys>` prints "key: value" lines).
SYSCTL_KEYS = (
    "machdep.cpu.brand_string",
    "hw.memsize",
    "hw.physicalcpu",
    "iogpu.wired_limit_mb",
)

# ARM cores by "CPU implementer" and "CPU part" (Linux arch/arm64/include/asm/cputype.h).
_ARM_IMPLEMENTERS = {0x41: "ARM", 0x51: "Qualcomm", 0x61: "Apple", 0xC0: "Ampere"}
_ARM_PARTS = {
    (0x41, 0xD03): "Cortex-A53",
    (0x41, 0xD05): "Cortex-A55",
    (0x41, 0xD07): "Cortex-A57",
    (0x41, 0xD08): "Cortex-A72",
    (0x41, 0xD0B): "Cortex-A76",
    (0x41, 0xD0C): "Neoverse-N1",
    (0x41, 0xD40): "Neoverse-V1",
    (0x41, 0xD49): "Neoverse-N2",
    (0x41, 0xD4F): "Neoverse-V2",
    (0xC0, 0xAC3): "Ampere-1",
}


def _cpuinfo_fields(text: str) -> dict[str, str]:
    """First value of every "key : value" line (all processors repeat the same keys)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key, value = key.strip().lower(), " ".join(value.split())
        if sep and value and key not in fields:
            fields[key] = value
    return fields


def parse_proc_cpuinfo(text: str) -> str | None:
    """The CPU name in /proc/cpuinfo: "model name", else the ARM core and board, else None."""
    fields = _cpuinfo_fields(text)
    if "model name" in fields:
        return fields["model name"]
    core = _arm_core_name(fields)
    board = fields.get("model") or fields.get("hardware")
    if core and board:
        return f"{core} ({board})"
    return core or board


def _arm_core_name(fields: dict[str, str]) -> str | None:
    try:
        implementer = int(fields["cpu implementer"], 16)
        part = int(fields["cpu part"], 16)
    except (KeyError, ValueError):
        return None
    vendor = _ARM_IMPLEMENTERS.get(implementer, f"ARM implementer 0x{implementer:02x}")
    core = _ARM_PARTS.get((implementer, part), f"part 0x{part:03x}")
    return f"{vendor} {core}"


def parse_sysctl(text: str) -> dict[str, str]:
    """The SYSCTL_KEYS found in `sysctl` output ("key: value" or "key = value" lines)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^\s*([\w.]+)\s*[:=]\s*(.*?)\s*$", line)
        if match and match.group(1) in SYSCTL_KEYS and match.group(2):
            values[match.group(1)] = match.group(2)
    return values


def sysctl_int(values: dict[str, str], key: str) -> int | None:
    """An integer sysctl value, or None when absent or not a number."""
    try:
        return int(values[key])
    except (KeyError, ValueError):
        return None


def read_macos_sysctl() -> dict[str, str]:
    """SYSCTL_KEYS on this Mac; unknown keys (older macOS) are simply absent."""
    return parse_sysctl(run_command(["sysctl", *SYSCTL_KEYS], allow_failure=True))


def cpu_name_for(os_name: str, proc_root: Path, sysctl: dict[str, str]) -> str:
    """The CPU name by the best source for this OS, falling back to platform, never empty."""
    import platform

    candidates: list[str | None] = []
    if os_name == "linux":
        candidates.append(parse_proc_cpuinfo(read_text(proc_root / "cpuinfo") or ""))
    elif os_name == "macos":
        candidates.append(sysctl.get("machdep.cpu.brand_string"))
    elif os_name == "windows":
        candidates.append(_windows_cpu_name())
    candidates += [platform.processor(), platform.machine()]
    return next((c.strip() for c in candidates if c and c.strip()), "Unknown CPU")


def _windows_cpu_name() -> str | None:
    if sys.platform != "win32":
        return None
    try:
        import winreg

        key = winreg.OpenKey(
            winreg.HKEY_LOCAL_MACHINE, r"HARDWARE\DESCRIPTION\System\CentralProcessor\0"
        )
        return str(winreg.QueryValueEx(key, "ProcessorNameString")[0])
    except OSError:
        return None


def read_ram_gib() -> tuple[float, float, str | None]:
    """Total and available RAM in GiB, and a note when psutil is missing."""
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return _sysconf_ram_gib() + ("RAM: psutil unavailable; available RAM assumed = total",)
    memory = psutil.virtual_memory()
    return round(memory.total / GIB, 2), round(memory.available / GIB, 2), None


def _sysconf_ram_gib() -> tuple[float, float]:
    import os

    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 0
    return round(total / GIB, 2), round(total / GIB, 2)


def read_cpu_cores() -> int:
    """Physical cores (psutil), else logical cores, never below 1."""
    import os

    physical = None
    try:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    return max(1, physical or os.cpu_count() or 1)
