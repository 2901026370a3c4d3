"""NVIDIA GPUs: NVML first, `nvidia-smi` CSV as the fallback."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from llmfit.hardware.probe import GpuReading, ProbeError, bytes_to_gib, mib_to_gib, run_command

NVIDIA_SMI_QUERY = [
    "nvidia-smi",
    "--query-gpu=name,memory.total,memory.free",
    "--format=csv,noheader,nounits",
]


def parse_nvidia_smi_csv(text: str) -> list[GpuReading]:
    """Readings from `nvidia-smi --query-gpu=name,memory.total,memory.free` (MiB, no header)."""
    readings = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.rsplit(",", 2)]
        if len(parts) != 3 or not any(c.isalnum() for c in parts[0]):
            continue
        if not all(_is_figure(field) for field in parts[1:]):
            continue  # not a reading: garbage, a warning line, a truncated row
        total, free = _mib_field(parts[1]), _mib_field(parts[2])
        readings.append(GpuReading(parts[0], total, free))
    return readings


def _is_figure(text: str) -> bool:
    """A number, or a bracketed marker such as "[N/A]" (GB10 reports its memory that way)."""
    if text.startswith("[") and text.endswith("]"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _mib_field(text: str) -> float | None:
    """A MiB figure, or None for "[N/A]", "[Not Supported]" and the like."""
    try:
        return mib_to_gib(float(text))
    except ValueError:
        return None


def read_nvml() -> list[GpuReading]:
    """Every GPU NVML reports; ProbeError when NVML cannot be loaded or initialised."""
    try:
        import pynvml  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ProbeError(f"nvidia-ml-py not installed ({exc})") from exc
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        raise ProbeError(str(exc) or type(exc).__name__) from exc
    try:
        return [_read_nvml_device(pynvml, index) for index in range(pynvml.nvmlDeviceGetCount())]
    except Exception as exc:
        raise ProbeError(f"NVML device count refused: {exc}") from exc
    finally:
        _nvml_field(pynvml.nvmlShutdown)


def _read_nvml_device(nvml: ModuleType, index: int) -> GpuReading:
    """One GPU; each field read on its own, None where the driver refuses it."""
    handle = _nvml_field(lambda: nvml.nvmlDeviceGetHandleByIndex(index))
    if handle is None:
        return GpuReading(f"NVIDIA GPU {index}", None, None)
    name = _nvml_field(lambda: _text(nvml.nvmlDeviceGetName(handle)))
    memory = _nvml_field(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    total = _nvml_field(lambda: bytes_to_gib(memory.total)) if memory is not None else None
    free = _nvml_field(lambda: bytes_to_gib(memory.free)) if memory is not None else None
    return GpuReading(name or f"NVIDIA GPU {index}", total, free)


def _nvml_field(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # noqa: BLE001  NVMLError_NotSupported, NoPermission, GpuIsLost, ...
        return None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def probe_nvidia() -> tuple[list[GpuReading], list[str]]:
    """NVIDIA readings and notes: NVML, else nvidia-smi, else none with a note why."""
    try:
        readings = read_nvml()
    except ProbeError as nvml_problem:
        return _fallback_to_smi(str(nvml_problem))
    if not readings:
        return [], ["NVIDIA: not detected (NVML reports no GPUs)"]
    return readings, []


def _fallback_to_smi(nvml_problem: str) -> tuple[list[GpuReading], list[str]]:
    try:
        readings = parse_nvidia_smi_csv(run_command(NVIDIA_SMI_QUERY))
    except ProbeError as smi_problem:
        return [], [f"NVIDIA: not detected (NVML unavailable: {nvml_problem}; {smi_problem})"]
    if not readings:
        return [], [f"NVIDIA: not detected (NVML unavailable: {nvml_problem}; nvidia-smi: none)"]
    return readings, [f"NVIDIA: read with nvidia-smi (NVML unavailable: {nvml_problem})"]
