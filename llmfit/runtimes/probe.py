"""Run every runtime probe at once; whatever has not answered by the deadline is a warning."""

from __future__ import annotations

import importlib
import threading
import time
from typing import Callable

from llmfit.runtimes.values import (RUNTIME_NAMES, Findings, ProbeContext, RuntimeReport,
                                    RuntimeStatus)

DEADLINE_S = 2.0  # all probes together: three HTTP timeouts in a row, plus a program's --version
MODULES = {"ollama": "ollama", "llamacpp": "llamacpp", "lmstudio": "lmstudio", "mlx": "mlx",
           "vllm": "vllm", "docker_model_runner": "docker"}
Probe = Callable[[ProbeContext], Findings]


def default_probes() -> dict[str, Probe]:
    """Each runtime's `probe`, by runtime name."""
    return {name: importlib.import_module(f"llmfit.runtimes.{MODULES[name]}").probe
            for name in RUNTIME_NAMES}


def probe_all(ctx: ProbeContext | None = None, probes: dict[str, Probe] | None = None,
              deadline_s: float = DEADLINE_S) -> RuntimeReport:
    """Every probe in its own daemon thread (a hung one is left behind, never waited for)."""
    ctx = ctx or ProbeContext.from_environment()
    probes = probes or default_probes()
    results: dict[str, Findings] = {}

    def run(name: str, probe: Probe) -> None:
        try:
            results[name] = probe(ctx)
        except Exception as exc:  # noqa: BLE001 - a probe failure is a warning, never an error
            results[name] = Findings(RuntimeStatus(name), (), (f"{name}: probe failed ({exc})",))

    threads = [threading.Thread(target=run, args=item, name=f"llmfit-runtime-{item[0]}",
                                daemon=True) for item in probes.items()]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    return _report(probes, dict(results), deadline_s)


def _report(probes: dict[str, Probe], results: dict[str, Findings],
            deadline_s: float) -> RuntimeReport:
    found = [results.get(name) or Findings(
        RuntimeStatus(name), (), (f"{name}: no answer within {deadline_s:g} s",))
        for name in probes]
    return RuntimeReport(runtimes=tuple(f.status for f in found),
                         models=tuple(m for f in found for m in f.models),
                         warnings=tuple(w for f in found for w in f.warnings))
