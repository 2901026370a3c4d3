"""GET /metrics: the exposition parsed by prometheus_client's own parser, on fixed machines."""

from __future__ import annotations

import warnings
from collections import Counter

import pytest
from conftest import cpu_box, dual_3090_box, rtx4090_box
from prometheus_client.parser import text_string_to_metric_families

from llmfit.errors import UsageError
from llmfit.metrics import MAX_TOP, check_top, route_template
from llmfit.server import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

GIB = 2**30


@pytest.fixture
def client_for(service_for, monkeypatch):
    monkeypatch.setenv("NODE_NAME", "node-7")

    def make(system, metrics_top: int = 20) -> TestClient:
        return TestClient(create_app(service_for(system), metrics_top=metrics_top),
                          raise_server_exceptions=False)

    return make


def scrape(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name → [(labels, value)], parsed as a Prometheus server would."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples, name: str, **labels: str) -> float:
    found = [v for lbl, v in samples[name] if all(lbl.get(k) == x for k, x in labels.items())]
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


def test_node_memory_and_catalog_of_an_rtx4090_box(client_for, catalog):
    samples = scrape(client_for(rtx4090_box()))
    assert samples["llmfit_node_info"] == [({
        "node": "node-7", "os": client_for(cpu_box()).get("/health").json()["node"]["os"],
        "arch": "x86_64", "backend": "CUDA", "cpu_name": "Test CPU", "version": "0.1.0"}, 1.0)]
    assert samples["llmfit_ram_total_bytes"] == [({}, 64 * GIB)]
    assert samples["llmfit_ram_available_bytes"] == [({}, 60 * GIB)]
    assert samples["llmfit_cpu_cores"] == [({}, 16.0)]
    gpu = {"gpu": "0", "name": "NVIDIA GeForce RTX 4090", "backend": "CUDA"}
    assert samples["llmfit_gpu_memory_total_bytes"] == [(gpu, 24 * GIB)]
    assert samples["llmfit_gpu_memory_free_bytes"] == [(gpu, 23.5 * GIB)]
    assert samples["llmfit_catalog_models"] == [({}, float(len(catalog)))]
    assert samples["llmfit_probe_ok"] == [({}, 1.0)]
    assert 0 <= value(samples, "llmfit_snapshot_age_seconds") < 60


def test_fit_level_counts_match_the_models_listing(client_for, catalog):
    client = client_for(rtx4090_box())
    levels = Counter(row["fit_level"] for row in client.get("/api/v1/models").json()["models"])
    samples = scrape(client)
    counts = {labels["fit_level"]: v for labels, v in samples["llmfit_models"]}
    assert counts == {level: float(levels[level])
                      for level in ("perfect", "good", "marginal", "too_tight")}
    assert sum(counts.values()) == len(catalog)


def test_top_models_are_the_top_endpoint_rows(client_for):
    client = client_for(rtx4090_box(), metrics_top=7)
    rows = client.get("/api/v1/models/top", params={"limit": 7}).json()["models"]
    samples = scrape(client)
    expected = [({"rank": str(i), "model": r["name"], "quant": r["best_quant"],
                  "fit_level": r["fit_level"]}, r) for i, r in enumerate(rows, start=1)]
    assert samples["llmfit_top_model_estimated_tps"] == [
        (labels, r["estimated_tps"]) for labels, r in expected]
    memory = samples["llmfit_top_model_memory_required_bytes"]
    assert [labels for labels, _ in memory] == [labels for labels, _ in expected]
    for (_, required), (_, row) in zip(memory, expected):
        assert round(required / GIB, 2) == row["memory_required_gb"]
    assert len(memory) == 7


def test_no_top_models_with_zero_and_the_bound_is_enforced(client_for):
    samples = scrape(client_for(cpu_box(), metrics_top=0))
    assert "llmfit_top_model_estimated_tps" not in samples
    assert check_top(MAX_TOP) == MAX_TOP
    with pytest.raises(UsageError, match="--metrics-top"):
        check_top(MAX_TOP + 1)


def test_one_series_per_gpu_and_none_without_one(client_for):
    dual = scrape(client_for(dual_3090_box()))
    assert [(labels["gpu"], v) for labels, v in dual["llmfit_gpu_memory_total_bytes"]] == [
        ("0", 24 * GIB), ("1", 24 * GIB)]
    cpu = scrape(client_for(cpu_box()))
    assert "llmfit_gpu_memory_total_bytes" not in cpu
    assert value(cpu, "llmfit_node_info", backend="CPU (x86)") == 1.0


def test_requests_are_counted_per_route_template(client_for):
    client = client_for(cpu_box(), metrics_top=0)
    for path in ("/health", "/health", "/api/v1/models/Qwen/Qwen2.5-7B-Instruct",
                 "/api/v1/models/llama", "/no/such/path-123"):
        client.get(path)
    client.post("/metrics")
    client.request("BREW", "/health")
    text = client.get("/metrics").text
    samples = scrape(client)
    counts = {(lbl["route"], lbl["method"], lbl["status"]): v
              for lbl, v in samples["llmfit_http_requests_total"]}
    assert counts == {("/health", "GET", "200"): 2.0, ("/api/v1/models/{name}", "GET", "200"): 2.0,
                      ("unmatched", "GET", "404"): 1.0, ("/metrics", "POST", "405"): 1.0,
                      ("/health", "OTHER", "405"): 1.0, ("/metrics", "GET", "200"): 1.0}
    assert value(samples, "llmfit_http_request_duration_seconds_count",
                 route="/api/v1/models/{name}", method="GET") == 2.0
    assert value(samples, "llmfit_http_request_duration_seconds_bucket",
                 route="/health", method="GET", le="+Inf") == 2.0
    assert "Qwen2.5" not in text and "path-123" not in text  # raw paths never become labels


def test_each_app_has_its_own_registry(client_for):
    first, second = client_for(cpu_box(), 0), client_for(cpu_box(), 0)
    first.get("/health")
    assert value(scrape(first), "llmfit_http_requests_total", route="/health") == 1.0
    assert "llmfit_http_requests_total" not in scrape(second)


def test_route_template_drops_converters():
    assert route_template("/api/v1/models/{name:path}") == "/api/v1/models/{name}"
    assert route_template("/health") == "/health"


def test_serve_rejects_an_unbounded_metrics_top(cli):
    result = cli()("serve", "--metrics-top", "1000")
    assert result.exit_code == 2
    assert "--metrics-top" in result.output and "Traceback" not in result.output
