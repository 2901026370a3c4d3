"""Shared pieces of the probes: running a tool, reading sysfs, grouping readings into devices."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmfit.values import GpuDevice

GIB = 1024**3
COMMAND_TIMEOUT_S = 3.0


class ProbeError(Exception):
    """A probe could not read what it wanted; the caller turns it into a note."""


@dataclass(frozen=True)
class GpuReading:
    """One GPU as a probe saw it, before grouping and table look-up."""

    name: str
    vram_gib: float | None
    free_vram_gib: float | None = None


def bytes_to_gib(value: float) -> float:
    """Bytes -> GiB, rounded to 2 decimals so identical cards compare equal."""
    return round(value / GIB, 2)


def mib_to_gib(value: float) -> float:
    """MiB -> GiB, rounded to 2 decimals."""
    return round(value / 1024, 2)


def run_command(argv: list[str], *, allow_failure: bool = False) -> str:
    """Run a tool with a short timeout and return its stdout; ProbeError when it cannot."""
    import shutil
    import subprocess

    if shutil.which(argv[0]) is None:
        raise ProbeError(f"{argv[0]} not found")
    try:
        done = subprocess.run(
            argv, capture_output=True, encoding="utf-8", errors="replace",
            timeout=COMMAND_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ProbeError(f"{argv[0]} failed: {exc}") from exc
    if done.returncode != 0 and not allow_failure:
        first_line = (done.stdout.strip() or done.stderr.strip()).splitlines()[:1]
        raise ProbeError(f"{argv[0]} exited with {done.returncode}: {''.join(first_line)}")
    return done.stdout


def read_text(path: Path) -> str | None:
    """A sysfs attribute's stripped text, or None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def read_int(path: Path) -> int | None:
    """A sysfs attribute as an integer (decimal or 0x hex), or None."""
    text = read_text(path)
    if not text:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def drm_cards(sys_root: Path) -> list[Path]:
    """Every /sys/class/drm/cardN directory under sys_root (connectors excluded), in order."""
    drm = sys_root / "class" / "drm"
    if not drm.is_dir():
        return []
    cards = [p for p in drm.iterdir() if p.name.startswith("card") and p.name[4:].isdigit()]
    return sorted(cards, key=lambda p: int(p.name[4:]))


def pci_id(device_dir: Path) -> str | None:
    """The PCI id of a device directory as vendor:device ("1002:744c"), or None."""
    vendor, device = read_int(device_dir / "vendor"), read_int(device_dir / "device")
    if vendor is None or device is None:
        return None
    return f"{vendor:04x}:{device:04x}"


def read_vendor_cards(
    sys_root: Path,
    vendor: str,
    read_card: Callable[[Path, str], tuple[GpuReading | None, str | None]],
) -> tuple[list[GpuReading], list[str]]:
    """Apply `read_card(card_dir, pci_id)` to every DRM card of one PCI vendor; gather notes."""
    readings: list[GpuReading] = []
    notes: list[str] = []
    for card in drm_cards(sys_root):
        pci = pci_id(card / "device")
        if pci is None or not pci.startswith(vendor + ":"):
            continue
        reading, note = read_card(card, pci)
        readings += [reading] if reading else []
        notes += [note] if note else []
    return readings, notes


def group_readings(readings: list[GpuReading], backend: str) -> list[GpuDevice]:
    """Identical cards (same name and VRAM) become one GpuDevice with a count.

    free_vram_gib is the per-card mean, so count x free is the group's free total.
    """
    groups: dict[tuple[str, float | None], list[GpuReading]] = {}
    for reading in readings:
        groups.setdefault((reading.name, reading.vram_gib), []).append(reading)
    return [_device(name, vram, members, backend) for (name, vram), members in groups.items()]


def _device(name: str, vram: float | None, members: list[GpuReading], backend: str) -> GpuDevice:
    from llmfit.gpus import lookup_gpu

    frees = [m.free_vram_gib for m in members]
    free = None if None in frees else round(sum(frees) / len(frees), 2)  # type: ignore[arg-type]
    model = lookup_gpu(name, vram)
    return GpuDevice(
        name=name,
        vram_gib=vram,
        free_vram_gib=free,
        backend=backend,
        count=len(members),
        bandwidth_gbps=model.bandwidth_gbps if model else None,
    )
