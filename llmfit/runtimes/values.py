"""Values the runtime probes return, and the JSON bodies of /api/v1/runtimes and /installed."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping

RUNTIME_NAMES = ("ollama", "llamacpp", "lmstudio", "mlx", "vllm", "docker_model_runner")
HTTP_TIMEOUT_S = 0.5  # a local server lists its models in milliseconds; a LAN host well within


@dataclass(frozen=True)
class RuntimeStatus:
    """One runtime: on this machine at all, answering now, its version and address."""

    name: str
    installed: bool = False
    running: bool = False
    version: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True)
class InstalledModel:
    """One model a runtime holds, in the runtime's own words (`name`), with what we make of it."""

    runtime: str
    name: str
    quant: str | None = None
    size_bytes: int | None = None
    loaded: bool = False
    repo: str | None = None  # the Hugging Face repo it came from, where the runtime says
    catalog_name: str | None = None  # filled by match.py


@dataclass(frozen=True)
class Findings:
    """What one probe found."""

    status: RuntimeStatus
    models: tuple[InstalledModel, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RuntimeReport:
    """What every probe found, in RUNTIME_NAMES order."""

    runtimes: tuple[RuntimeStatus, ...]
    models: tuple[InstalledModel, ...] = ()
    warnings: tuple[str, ...] = ()

    def installed_keys(self) -> frozenset[str]:
        """Lower-cased catalog names of every matched model (what rows' `installed` reads)."""
        return frozenset(m.catalog_name.lower() for m in self.models if m.catalog_name)

    def runtimes_body(self) -> dict[str, Any]:
        """GET /api/v1/runtimes and `llmfit runtimes --json`."""
        return {"runtimes": [{"name": r.name, "installed": r.installed, "running": r.running,
                              "version": r.version, "endpoint": r.endpoint}
                             for r in self.runtimes],
                "warnings": list(self.warnings)}

    def installed_body(self) -> dict[str, Any]:
        """GET /api/v1/installed and `llmfit installed --json`."""
        return {"models": [{"runtime": m.runtime, "name": m.name, "catalog_name": m.catalog_name,
                            "quant": m.quant, "size_gb": _gib(m.size_bytes), "loaded": m.loaded}
                           for m in self.models],
                "warnings": list(self.warnings)}

    def with_models(self, models: tuple[InstalledModel, ...]) -> "RuntimeReport":
        return replace(self, models=models)


def _gib(size_bytes: int | None) -> float | None:
    return None if size_bytes is None else round(size_bytes / 2**30, 2)


def package_version(name: str) -> str | None:
    """The installed version of a Python distribution, or None."""
    try:
        return importlib.metadata.version(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def run_output(argv: list[str], timeout_s: float) -> str | None:
    """stdout + stderr of a short command, or None when it fails or takes too long."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout or "") + (done.stderr or "")


@dataclass(frozen=True)
class ProbeContext:
    """Where the probes look: the environment, the home folder, and how to find programs and
    packages (tests pass recorded trees and fakes)."""

    env: Mapping[str, str]
    home: Path
    which: Callable[[str], str | None] = shutil.which
    version_of: Callable[[str], str | None] = package_version
    run: Callable[[list[str], float], str | None] = run_output
    timeout_s: float = HTTP_TIMEOUT_S

    @classmethod
    def from_environment(cls) -> "ProbeContext":
        """This process's environment and home folder."""
        return cls(env=dict(os.environ), home=Path.home(), version_of=package_version)
