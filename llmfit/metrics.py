"""GET /metrics: the node, its memory, how the catalog fits, and request counts, for Prometheus.

Only `llmfit serve` imports this module (prometheus_client is not paid for by `llmfit top`).
Every series is documented in docs/api.md; label values are bounded: route templates (never raw
paths), a fixed set of methods, the four fit levels, and at most `top_n` models.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               disable_created_metrics)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from llmfit.placement import FitLevel
from llmfit.query import MODELS, TOP, parse_query
from llmfit.service import LlmfitService
from llmfit.values import SystemSpec

DEFAULT_TOP = 20
MAX_TOP = 100  # each top model is 2 series; more would let one flag flood a Prometheus
GIB = 2**30
UNMATCHED = "unmatched"  # requests no route answered (404s): one label value, not their paths
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def check_top(value: int) -> int:
    """--metrics-top: 0 to MAX_TOP, else a UsageError."""
    from llmfit.errors import UsageError

    if not 0 <= value <= MAX_TOP:
        raise UsageError(f"invalid --metrics-top value {value}: use 0 to {MAX_TOP}")
    return value


def route_template(path: str) -> str:
    """`/api/v1/models/{name:path}` → `/api/v1/models/{name}` (the form docs and OpenAPI use)."""
    import re

    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


class Metrics:
    """One app's registry: request counters filled by the middleware, node gauges on scrape."""

    def __init__(self, service: LlmfitService, top_n: int = DEFAULT_TOP) -> None:
        disable_created_metrics()  # `_created` series would double the counters for no use
        self.registry = CollectorRegistry(auto_describe=False)  # per app: tests never collide
        self.requests = Counter("llmfit_http_requests", "HTTP requests answered, by route "
                                "template, method and status.", ["route", "method", "status"],
                                registry=self.registry)
        self.latency = Histogram("llmfit_http_request_duration_seconds", "Time to answer an "
                                 "HTTP request, by route template and method.",
                                 ["route", "method"], buckets=LATENCY_BUCKETS_S,
                                 registry=self.registry)
        self.registry.register(NodeCollector(service, check_top(top_n)))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in METHODS else "OTHER"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def exposition(self) -> bytes:
        """The text format a Prometheus scrape reads."""
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST


class NodeCollector:
    """Gauges read from the service at scrape time (the snapshot and its cached analyses)."""

    def __init__(self, service: LlmfitService, top_n: int) -> None:
        self.service, self.top_n = service, top_n

    def collect(self) -> Iterator[Metric]:
        health = self.service.health_body()
        system = self.service.snapshot()
        yield _node_info(self.service.node, system)
        yield from _memory(system)
        yield _gauge("llmfit_snapshot_age_seconds",
                     "Seconds since the hardware snapshot the answers use was taken.",
                     health["snapshot_age_s"])
        yield _gauge("llmfit_probe_ok", "1 when the last hardware probe succeeded, 0 while "
                     "answers come from an older snapshot.", 0 if health["probe_error"] else 1)
        yield _gauge("llmfit_catalog_models", "Models in the catalog.",
                     len(self.service.catalog))
        yield _fit_levels(self.service)
        yield from _top_models(self.service, self.top_n)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _node_info(node: dict[str, str], system: SystemSpec) -> InfoMetricFamily:
    from llmfit import __version__

    info = InfoMetricFamily("llmfit_node", "This node: name, OS, architecture, backend, CPU, "
                            "llmfit version.")
    info.add_metric([], {"node": node["name"], "os": node["os"], "arch": system.arch,
                         "backend": system.backend, "cpu_name": system.cpu_name or "Unknown CPU",
                         "version": __version__})
    return info


def _memory(system: SystemSpec) -> Iterator[Metric]:
    yield _gauge("llmfit_ram_total_bytes", "System RAM.", round(system.total_ram_gib * GIB))
    yield _gauge("llmfit_ram_available_bytes", "System RAM available to new processes.",
                 round(system.available_ram_gib * GIB))
    yield _gauge("llmfit_cpu_cores", "CPU cores the estimates assume.", system.cpu_cores)
    total = GaugeMetricFamily("llmfit_gpu_memory_total_bytes", "Memory of one GPU.",
                              labels=["gpu", "name", "backend"])
    free = GaugeMetricFamily("llmfit_gpu_memory_free_bytes", "Free memory of one GPU (identical "
                             "cards report their group's mean).", labels=["gpu", "name", "backend"])
    index = 0
    for device in system.gpus:
        for _ in range(device.count):
            labels = [str(index), device.name, device.backend]
            if device.vram_gib is not None:
                total.add_metric(labels, round(device.vram_gib * GIB))
            if device.free_vram_gib is not None:
                free.add_metric(labels, round(device.free_vram_gib * GIB))
            index += 1
    yield total
    yield free


def _fit_levels(service: LlmfitService) -> GaugeMetricFamily:
    _, _, _, rows = service.listing(parse_query({}, MODELS))
    counts = {level.code: 0 for level in sorted(FitLevel, reverse=True)}
    for row in rows:
        counts[row.level.code] += 1
    family = GaugeMetricFamily("llmfit_models", "Catalog models per fit level on this node "
                               "(default analysis options).", labels=["fit_level"])
    for code, count in counts.items():
        family.add_metric([code], count)
    return family


def _top_models(service: LlmfitService, top_n: int) -> Iterator[Metric]:
    labels = ["rank", "model", "quant", "fit_level"]
    tps = GaugeMetricFamily("llmfit_top_model_estimated_tps", "Estimated decode tokens per "
                            "second of the top models (GET /api/v1/models/top order).", labels=labels)
    memory = GaugeMetricFamily("llmfit_top_model_memory_required_bytes", "Memory the top models "
                               "need at their best quantization.", labels=labels)
    rows = service.models_body(parse_query({"limit": str(top_n)}, TOP))["models"] if top_n else []
    for rank, row in enumerate(rows, start=1):
        values = [str(rank), row["name"], row["best_quant"] or "", row["fit_level"]]
        if row["estimated_tps"] is not None:
            tps.add_metric(values, row["estimated_tps"])
        memory.add_metric(values, round(row["memory_required_gb"] * GIB))
    yield tps
    yield memory


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._templates: dict[Any, str] | None = None

    def _route(self, scope: Scope) -> str:
        if self._templates is None:  # the routes are final once the app serves
            self._templates = {getattr(r, "endpoint", None): route_template(getattr(r, "path", ""))
                               for r in scope["app"].routes}
        endpoint = scope.get("endpoint")
        return self._templates.get(endpoint, UNMATCHED) if endpoint is not None else UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.observe(self._route(scope), scope["method"], status[0],
                                 time.perf_counter() - started)
