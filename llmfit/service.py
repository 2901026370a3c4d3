"""The one core object: a hardware snapshot, the catalog, and cached analyses.

The CLI builds one per command; `llmfit serve` builds one for the life of the process, so the
snapshot is refreshed on an interval and analyses are cached per (machine, options).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable

from llmfit.catalog import ModelSpec, load_catalog
from llmfit.fit import AnalysisOptions, FitResult, analyse
from llmfit.placement import Pools, machine_pools
from llmfit.query import Query, apply_query, parse_int
from llmfit.values import SystemSpec

CONTEXT_ENV = "OLLAMA_CONTEXT_LENGTH"
PROBE_TIMEOUT_S = 20.0  # a driver call that takes longer is abandoned (its thread is a daemon)
CACHE_SIZE = 64


@dataclass(frozen=True)
class HardwareOverrides:
    """What the user told us about the machine instead of (or on top of) detection."""

    memory_gib: float | None = None
    ram_gib: float | None = None
    cpu_cores: int | None = None
    gpus: tuple[str, ...] = ()

    def apply(self, system: SystemSpec) -> SystemSpec:
        """The system with these overrides applied."""
        if self == HardwareOverrides():
            return system
        from llmfit.hardware.overrides import apply_overrides

        return apply_overrides(system, memory_gib=self.memory_gib, ram_gib=self.ram_gib,
                               cpu_cores=self.cpu_cores, gpus=self.gpus)


def default_max_context(explicit: int | None) -> int | None:
    """--max-context, else $OLLAMA_CONTEXT_LENGTH, else None (8,192 per model)."""
    if explicit is not None:
        return explicit
    raw = os.environ.get(CONTEXT_ENV)
    return parse_int(CONTEXT_ENV, raw, 1, 10_000_000) if raw else None


def detect_machine(measure_refresh: bool = False) -> SystemSpec:
    """Probe this machine (drivers that are missing degrade to notes)."""
    from llmfit.hardware import detect_system

    return detect_system(measure_refresh=measure_refresh)


class LlmfitService:
    """Answers the questions both front ends ask: the system, and analysed model listings."""

    def __init__(self, *, overrides: HardwareOverrides = HardwareOverrides(),
                 catalog_path: str | None = None, max_context: int | None = None,
                 refresh_seconds: float | None = None,
                 probe: Callable[[], SystemSpec] | None = None,
                 catalog: list[ModelSpec] | None = None,
                 pulled_probe: Callable[[], frozenset[str]] | None = None,
                 bench_records: Callable[[], list[Any]] | None = None,
                 runtime_probe: Callable[[], Any] | None = None,
                 probe_runtimes: bool = False) -> None:
        self._catalog = catalog if catalog is not None else load_catalog(catalog_path)
        self._overrides = overrides
        self._probe = probe or (lambda: detect_machine())  # looked up per call: tests replace it
        self._refresh_seconds = refresh_seconds
        self.max_context = max_context
        self._pulled_probe = pulled_probe or _local_pulled
        self._bench_records = bench_records or _local_bench_records
        # Runtime probes (HTTP to local servers, folder scans): with every snapshot only when
        # asked (`serve`, `--installed`); otherwise once, on first use (`llmfit installed`).
        self._runtime_probe = runtime_probe or _local_runtimes
        self._probe_runtimes = probe_runtimes
        self._report: Any = None  # a RuntimeReport, matched to the catalog
        self._snapshot: SystemSpec | None = None
        self._pulled: frozenset[str] = frozenset()
        self._local: dict[str, float] = {}
        self._measured: dict[tuple[str, str], float] = {}
        self._snapshot_at = 0.0
        self._probe_error: str | None = None
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[Any, ...], tuple[list[FitResult], Pools]] = OrderedDict()
        # The node identity is fixed for the life of the process.
        from llmfit.serialize import node_json

        self.node = node_json()

    @property
    def catalog(self) -> list[ModelSpec]:
        return self._catalog

    def snapshot(self) -> SystemSpec:
        """The machine with overrides. The CLI probes once; `llmfit serve` probes once before
        listening and then only in the background (start_refresher): a request never waits
        for a driver."""
        with self._lock:
            if self._snapshot is None:
                self._refresh_locked()
            assert self._snapshot is not None
            return self._snapshot

    def _take(self) -> tuple[SystemSpec, frozenset[str], Any]:
        system = self._overrides.apply(self._probe())
        return system, self._installed_now(), _local_truth(system, self._bench_records())

    def _installed_now(self) -> frozenset[str]:
        """Pulled Ollama tags, and with runtime probes on, the catalog names runtimes have."""
        pulled = self._pulled_probe()
        if not self._probe_runtimes:
            return pulled
        self._report = self._matched_runtimes()
        return pulled | self._report.installed_keys()

    def _matched_runtimes(self) -> Any:
        from llmfit.runtimes.match import match_report

        return match_report(self._runtime_probe(), self._catalog)

    def runtime_report(self) -> Any:
        """What local runtimes have: taken with each snapshot when runtime probes are on,
        otherwise probed once, on first use."""
        if self._probe_runtimes:
            self.snapshot()
        with self._lock:
            if self._report is None:
                self._report = self._matched_runtimes()
            return self._report

    def runtimes_body(self) -> dict[str, Any]:
        """GET /api/v1/runtimes and `llmfit runtimes --json`."""
        return self.runtime_report().runtimes_body()

    def installed_body(self) -> dict[str, Any]:
        """GET /api/v1/installed and `llmfit installed --json`."""
        return self.runtime_report().installed_body()

    def _refresh_locked(self) -> None:
        try:
            system, pulled, (local, measured) = _with_timeout(self._take, probe_timeout_s())
        except Exception as exc:  # noqa: BLE001 - a probe failure must never stop answers
            self._probe_error = f"{type(exc).__name__}: {exc}"[:300]
            if self._snapshot is None:  # nothing yet: RAM and cores, no GPU, said in a note
                self._snapshot = self._overrides.apply(_fallback_system(self._probe_error))
                self._snapshot_at = time.monotonic()
            return
        self._snapshot, self._pulled, self._local, self._measured = system, pulled, local, measured
        self._snapshot_at, self._probe_error = time.monotonic(), None

    def refresh(self) -> None:
        """Probe again (bounded by PROBE_TIMEOUT_S); on failure keep the last good snapshot."""
        with self._lock:
            self._refresh_locked()

    def start_refresher(self) -> threading.Thread | None:
        """A daemon thread re-probing every refresh interval (none without one)."""
        if self._refresh_seconds is None:
            return None

        def loop() -> None:
            while not self._stopped.wait(self._refresh_seconds or 5.0):
                self.refresh()

        thread = threading.Thread(target=loop, name="llmfit-refresher", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        """Stop the background refresher (a probe in flight is left to finish on its own)."""
        self._stopped.set()

    def health_body(self) -> dict[str, Any]:
        """GET /health: `ok`, or `degraded` while the last probe failed (answers go on from
        the last good snapshot), with the snapshot's age and the probe error."""
        self.snapshot()
        return {"status": "degraded" if self._probe_error else "ok", "node": self.node,
                "snapshot_age_s": round(time.monotonic() - self._snapshot_at, 1),
                "probe_error": self._probe_error}

    @property
    def pulled(self) -> frozenset[str]:
        """Ollama tags found at the last snapshot (rows of pulled models say `installed`)."""
        self.snapshot()
        return self._pulled

    def system_for(self, query: Query | None = None) -> SystemSpec:
        """The snapshot, or the what-if machine of `ram_gb`, `vram_gb`, `cpu_cores`."""
        system = self.snapshot()
        if query is None or (query.ram_gb is None and query.vram_gb is None
                             and query.cpu_cores is None):
            return system
        return _what_if(system, query)

    def pools_for(self, system: SystemSpec) -> Pools:
        """Pools of `system`, with this machine's `llmfit bench` corrections when it is this
        machine (not a what-if)."""
        local = self._local if system == self._snapshot else None
        return machine_pools(system, local)

    @property
    def measured(self) -> dict[tuple[str, str], float]:
        """Speeds `llmfit bench` recorded on this machine, by (model, quant)."""
        self.snapshot()
        return self._measured

    def analyses(self, system: SystemSpec, options: AnalysisOptions) -> tuple[list[FitResult], Pools]:
        """Every catalog model analysed for `system` (cached per machine and options)."""
        key = (system, options)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        pools = self.pools_for(system)
        results = [analyse(model, pools, options) for model in self._catalog]
        with self._lock:
            self._cache[key] = (results, pools)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return results, pools

    def options_for(self, query: Query) -> AnalysisOptions:
        """Analysis options from the query, the service default filling max_context."""
        return AnalysisOptions(max_context=query.max_context or self.max_context,
                               quant=query.quant, force_runtime=query.forced_runtime,
                               kv_quant=query.kv_quant, parallel=query.parallel)

    def system_body(self, query: Query | None = None) -> dict[str, Any]:
        """GET /api/v1/system and `llmfit system --json`."""
        from llmfit.serialize import system_json

        return {"node": self.node, "system": system_json(self.system_for(query))}

    def listing(self, query: Query) -> tuple[SystemSpec, Pools, int, list[FitResult]]:
        """Analyse, filter, sort and limit: what a listing shows."""
        system = self.system_for(query)
        results, pools = self.analyses(system, self.options_for(query))
        total, rows = apply_query(results, query, self.pulled)
        return system, pools, total, rows

    def models_body(self, query: Query) -> dict[str, Any]:
        """The envelope of GET /api/v1/models[/top|/{name}] and `--json` listings."""
        from llmfit.serialize import envelope

        system, pools, total, rows = self.listing(query)
        shown = replace(query, max_context=query.max_context or self.max_context)
        measured = self.measured if system == self._snapshot else {}
        return envelope(self.node, system, pools, total, rows, shown, self.pulled, measured)

    def model_body(self, model: ModelSpec, query: Query, all_quants: bool = False) -> dict[str, Any]:
        """`llmfit info --json`: the envelope of /api/v1/models/{name} for one model (any source),
        with one row per quantization when `all_quants`."""
        from llmfit.serialize import envelope

        system = self.system_for(query)
        pools = self.pools_for(system)
        options = self.options_for(query)
        if all_quants and options.quant is None:
            rows = [analyse(model, pools, replace(options, quant=q)) for q in info_quants(model, pools)]
        else:
            rows = [analyse(model, pools, options)]
        shown = replace(query, max_context=query.max_context or self.max_context, name=model.name)
        measured = self.measured if system == self._snapshot else {}
        return envelope(self.node, system, pools, len(rows), rows, shown, self.pulled, measured)


    def plan_body(self, body: Any) -> dict[str, Any]:
        """POST /api/v1/plan and `llmfit plan --json`: the hardware a model needs."""
        from llmfit.plan import make_plan
        from llmfit.plan_json import parse_plan_body, plan_json

        request, hardware = parse_plan_body(body, self._catalog)
        if request.context is None and self.max_context:
            request = replace(request, context=self.max_context)
        what_if = Query(ram_gb=hardware["ram_gb"], vram_gb=hardware["vram_gb"],
                        cpu_cores=hardware["cpu_cores"])
        system = self.system_for(what_if)
        plan = make_plan(request, system)
        return plan_json(plan, _plan_notice(plan, self.pools_for(system)))


def _plan_notice(plan: Any, pools: Pools) -> str:
    """One sentence on how far to trust the plan's figures."""
    from llmfit.serialize import speed_fields

    result = plan.best.result if plan.best is not None and plan.best.result is not None else plan.current
    confidence = speed_fields(result, pools)["estimate_confidence"]
    return (f"Memory figures follow llama.cpp's own allocation; speeds are {confidence}-confidence "
            "estimates from a bandwidth model calibrated on published llama-bench results, "
            "so measure with `llmfit bench` before buying hardware.")


def info_quants(model: ModelSpec, pools: Pools) -> list[str]:
    """Every quantization `llmfit info --all-quants` shows for a model on this machine."""
    names = ["BF16" if model.category != "Embedding" else "F16", "Q8_0", "Q6_K", "Q5_K_M",
             "Q4_K_M", "Q3_K_M", "Q2_K"]
    if model.exact_weights is not None and model.exact_weights.quant.upper() not in names:
        names.insert(0, model.exact_weights.quant)
    if "MXFP4" in model.quants:
        names.insert(0, "MXFP4")
    if pools.gpu_backend == "Metal" and "MLX" in model.quants:
        names += ["mlx-8bit", "mlx-6bit", "mlx-4bit"]
    if pools.gpu_backend in ("CUDA", "ROCm"):
        names += [q for q in ("FP8", "AWQ", "GPTQ") if q in model.quants]
    return names


def probe_timeout_s() -> float:
    """PROBE_TIMEOUT_S, or $LLMFIT_PROBE_TIMEOUT seconds (0.1 to 600) where set."""
    raw = os.environ.get("LLMFIT_PROBE_TIMEOUT")
    if not raw:
        return PROBE_TIMEOUT_S
    try:
        return min(max(float(raw), 0.1), 600.0)
    except ValueError:
        return PROBE_TIMEOUT_S


def _with_timeout(work: Callable[[], Any], seconds: float) -> Any:
    """work() in a daemon thread: its result, its exception, or TimeoutError after `seconds`
    (a hung driver call cannot be interrupted, only left behind)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="llmfit-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"the hardware probe took longer than {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _fallback_system(reason: str) -> SystemSpec:
    """RAM and CPU cores only (psutil answers at once), for when the full probe hangs."""
    from llmfit.hardware.cpu import read_cpu_cores, read_ram_gib

    total, available, _ = read_ram_gib()
    return SystemSpec(total_ram_gib=total, available_ram_gib=available, cpu_cores=read_cpu_cores(),
                      cpu_name="unknown CPU (probe pending)",
                      notes=(f"hardware probe failed ({reason}); GPUs not detected yet",))


def _local_bench_records() -> list[Any]:
    from llmfit.local_bench import load_records

    return load_records()


def _local_truth(system: SystemSpec, records: list[Any]) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    """Per-class corrections and measured speeds recorded on this machine."""
    if not records:
        return {}, {}
    from llmfit.local_bench import local_factors, machine_key, measured_speeds

    key = machine_key(system.cpu_name, [g.name for g in system.gpus])
    return local_factors(records, key), measured_speeds(records, key)


def _local_pulled() -> frozenset[str]:
    from llmfit.installed import local_ollama_tags

    return local_ollama_tags()


def _local_runtimes() -> Any:
    from llmfit.runtimes.probe import probe_all

    return probe_all()


def _what_if(system: SystemSpec, query: Query) -> SystemSpec:
    from llmfit.hardware.overrides import apply_overrides

    return apply_overrides(system, memory_gib=query.vram_gb, ram_gib=query.ram_gb,
                           cpu_cores=query.cpu_cores)
