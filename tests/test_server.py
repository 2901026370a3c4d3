"""The REST API in-process (Starlette TestClient) against api-contract.md, on fixed machines."""

from __future__ import annotations

import json
import logging
import platform
import re
import warnings
from datetime import date
from types import SimpleNamespace

import pytest
from conftest import cpu_box, dual_3090_box, m2_max_box, rtx4090_box

from llmfit import query as q
from llmfit.fit import AnalysisOptions
from llmfit.placement import FitLevel
from llmfit.query import parse_query
from llmfit.server import create_app
from llmfit.values import GpuDevice, SystemSpec

with warnings.catch_warnings():  # starlette 1.x asks for httpx2; httpx works the same here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

LISTINGS = ("/api/v1/models", "/api/v1/models/top", "/api/v1/models/qwen")
ENDPOINTS = ("/", "/health", "/openapi.json", "/api/v1/system", *LISTINGS)
FILTER_KEYS = ("limit", "perfect", "min_fit", "runtime", "use_case", "provider", "search", "sort",
               "include_too_tight", "max_context", "force_runtime", "quant", "ram_gb", "vram_gb",
               "cpu_cores")
ROW_KEYS = {
    "name", "provider", "parameter_count", "params_b", "context_length",
    "effective_context_length", "usable_context", "use_case", "category", "release_date",
    "is_moe", "fit_level", "fit_label", "run_mode", "run_mode_label", "score",
    "score_components", "estimated_tps", "runtime", "runtime_label", "best_quant",
    "memory_required_gb", "memory_available_gb", "utilization_pct", "moe_offloaded_gb",
    "total_memory_gb", "disk_size_gb", "notes", "capabilities", "capability_ids", "license",
    "supports_tp", "gguf_sources", "installed", "ollama_name", "estimate_basis",
    "verify_command", "measured_tps"}
FIT_LABELS = {"perfect": "Perfect", "good": "Good", "marginal": "Marginal", "too_tight": "Too Tight"}
MODE_LABELS = {"gpu": "GPU", "moe_offload": "MoE", "cpu_offload": "CPU+GPU", "cpu_only": "CPU"}
RUNTIME_LABELS = {"llamacpp": "llama.cpp", "mlx": "MLX", "vllm": "vLLM"}
LEVEL_RANK = {"too_tight": 0, "marginal": 1, "good": 2, "perfect": 3}
MACHINES = {"cpu": cpu_box, "rtx4090": rtx4090_box, "m2_max": m2_max_box, "dual_3090": dual_3090_box}


@pytest.fixture
def client_for(service_for, monkeypatch):
    """A TestClient over a service for `system`, node name fixed to node-7."""
    monkeypatch.setenv("NODE_NAME", "node-7")

    def make(system: SystemSpec, **kwargs) -> TestClient:
        return TestClient(create_app(service_for(system, **kwargs)), raise_server_exceptions=False)

    return make


@pytest.fixture
def gpu(client_for) -> TestClient:
    return client_for(rtx4090_box())


@pytest.fixture
def cpu(client_for) -> TestClient:
    return client_for(cpu_box())


def get_json(client: TestClient, url: str, status: int = 200):
    response = client.get(url)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def names(body) -> list[str]:
    return [row["name"] for row in body["models"]]


# --- endpoints ------------------------------------------------------------------------------


def test_index_lists_the_endpoints_and_each_answers(gpu):
    body = get_json(gpu, "/")
    assert body == {"name": "llmfit", "endpoints": [
        "/health", "/api/v1/system", "/api/v1/models", "/api/v1/models/top",
        "/api/v1/models/{name}", "/openapi.json", "/metrics", "/api/v1/runtimes",
        "/api/v1/installed"]}
    for path in body["endpoints"]:
        if path != "/metrics":  # the Prometheus text format: tests/test_metrics.py
            get_json(gpu, path.replace("{name}", "llama"))


def test_health_names_the_node(gpu):
    os_name = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}[platform.system()]
    body = get_json(gpu, "/health")
    assert body["status"] == "ok" and body["node"] == {"name": "node-7", "os": os_name}
    assert body["probe_error"] is None and 0 <= body["snapshot_age_s"] < 60


def test_node_name_falls_back_to_hostname_variable(service_for, monkeypatch):
    monkeypatch.delenv("NODE_NAME", raising=False)
    monkeypatch.setenv("HOSTNAME", "pod-3")
    client = TestClient(create_app(service_for(cpu_box())))
    assert get_json(client, "/health")["node"]["name"] == "pod-3"


def test_system_body_of_a_gpu_machine(gpu):
    assert get_json(gpu, "/api/v1/system") == {
        "node": {"name": "node-7", "os": get_json(gpu, "/health")["node"]["os"]},
        "system": {
            "total_ram_gb": 64.0, "available_ram_gb": 60.0, "cpu_cores": 16,
            "cpu_name": "Test CPU", "has_gpu": True, "gpu_vram_gb": 24.0,
            "gpu_available_gb": 23.5, "gpu_name": "NVIDIA GeForce RTX 4090", "gpu_count": 1,
            "unified_memory": False, "backend": "CUDA",
            "gpus": [{"name": "NVIDIA GeForce RTX 4090", "vram_gb": 24.0, "free_vram_gb": 23.5,
                      "backend": "CUDA", "count": 1, "unified_memory": False,
                      "memory_bandwidth_gbps": 1008.0}],
            # not measured: min(assumed DDR peak, 16 cores x assumed GB/s per core)
            "cpu_bandwidth_gbps": 51.2, "cpu_bandwidth_source": "assumed",
            "notes": []}}


def test_system_of_cpu_apple_and_dual_gpu_machines(client_for):
    cpu = get_json(client_for(cpu_box()), "/api/v1/system")["system"]
    assert (cpu["has_gpu"], cpu["gpu_vram_gb"], cpu["gpu_available_gb"], cpu["gpu_name"],
            cpu["gpu_count"], cpu["gpus"], cpu["backend"]) == (False, None, None, None, 0, [],
                                                               "CPU (x86)")
    apple = get_json(client_for(m2_max_box()), "/api/v1/system")["system"]
    assert (apple["unified_memory"], apple["backend"], apple["gpu_available_gb"]) == (True, "Metal", 24.0)
    dual = get_json(client_for(dual_3090_box()), "/api/v1/system")["system"]
    assert dual["gpu_count"] == 2 and dual["gpus"][0]["count"] == 2 and len(dual["gpus"]) == 1


def test_openapi_paths_are_exactly_the_app_routes(gpu):
    routes = {re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path) for r in gpu.app.routes}
    assert set(get_json(gpu, "/openapi.json")["paths"]) == routes


def test_openapi_document_lists_every_path_and_parameter(gpu):
    doc = get_json(gpu, "/openapi.json")
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {"/", "/health", "/openapi.json", "/api/v1/system",
                                 "/api/v1/models", "/api/v1/models/top", "/api/v1/models/{name}",
                                 "/metrics", "/api/v1/runtimes", "/api/v1/installed",
                                 "/api/v1/plan", "/ui/{file}"}
    params = {p["name"]: p for p in doc["paths"]["/api/v1/models"]["get"]["parameters"]}
    assert set(params) == set(FILTER_KEYS) | {"n", "installed", "license", "capability", "kv_quant",
                                              "parallel"}
    assert params["min_fit"]["schema"]["enum"] == ["perfect", "good", "marginal", "too_tight"]
    assert params["sort"]["schema"]["enum"] == list(q.SORT_VALUES)
    system_params = {p["name"] for p in doc["paths"]["/api/v1/system"]["get"]["parameters"]}
    assert system_params == {"ram_gb", "vram_gb", "cpu_cores"}


# --- envelope and filters echo ----------------------------------------------------------------


def test_models_envelope_lists_the_whole_catalog_by_default(cpu, catalog):
    body = get_json(cpu, "/api/v1/models")
    assert set(body) == {"node", "system", "total_models", "returned_models", "filters", "models"}
    assert body["total_models"] == body["returned_models"] == len(catalog)
    assert sorted(names(body)) == sorted(m.name for m in catalog)
    assert body["node"]["name"] == "node-7" and body["system"]["cpu_cores"] == 2


@pytest.mark.parametrize("path, limit, too_tight", [
    ("/api/v1/models", None, True), ("/api/v1/models/top", 5, False),
    ("/api/v1/models/qwen", 20, True)])
def test_filters_echo_every_key_with_null_where_unset(gpu, path, limit, too_tight):
    filters = get_json(gpu, path)["filters"]
    expected = dict.fromkeys(FILTER_KEYS)
    expected.update(limit=limit, sort="score", include_too_tight=too_tight)
    assert {k: filters[k] for k in FILTER_KEYS} == expected


def test_filters_echo_the_parsed_values(gpu):
    url = ("/api/v1/models?limit=3&perfect=yes&min_fit=GOOD&runtime=llama.cpp&use_case=Coding"
           "&provider=%20Qwen%20&search=coder&sort=tps&include_too_tight=0&max_context=4096"
           "&force_runtime=llama.cpp&quant=q4_k_m&ram_gb=48&vram_gb=16&cpu_cores=12")
    filters = get_json(gpu, url)["filters"]
    assert {k: filters[k] for k in FILTER_KEYS} == {
        "limit": 3, "perfect": True, "min_fit": "good", "runtime": "llamacpp",
        "use_case": "coding", "provider": "Qwen", "search": "coder", "sort": "tps",
        "include_too_tight": False, "max_context": 4096, "force_runtime": "llamacpp",
        "quant": "Q4_K_M", "ram_gb": 48.0, "vram_gb": 16.0, "cpu_cores": 12}
    assert type(filters["limit"]) is int and type(filters["max_context"]) is int
    assert type(filters["cpu_cores"]) is int


# --- limit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query, returned", [("", 5), ("limit=3", 3), ("n=2", 2),
                                             ("limit=1&n=4", 1), ("limit=0", 0)])
def test_top_limit_defaults_to_5_and_n_is_an_alias(gpu, query, returned):
    full = get_json(gpu, "/api/v1/models/top?limit=100000")
    body = get_json(gpu, f"/api/v1/models/top?{query}")
    assert full["total_models"] > 5
    assert body["total_models"] == full["total_models"]  # counted before the limit
    assert body["returned_models"] == len(body["models"]) == returned
    assert names(body) == names(full)[:returned]
    assert body["filters"]["limit"] == returned


def test_models_limit_counts_total_before_the_limit(cpu, catalog):
    body = get_json(cpu, "/api/v1/models?limit=7")
    assert (body["total_models"], body["returned_models"], len(body["models"])) == (len(catalog), 7, 7)


def test_name_endpoint_limit_defaults_to_20(gpu, catalog):
    body = get_json(gpu, "/api/v1/models/%2F")  # every repo id contains "/"
    assert body["total_models"] == len(catalog) > 20
    assert body["returned_models"] == len(body["models"]) == 20
    assert body["filters"]["limit"] == 20


# --- /models/{name} ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/models/Qwen/Qwen2.5-7B-Instruct",
                                  "/api/v1/models/Qwen%2FQwen2.5-7B-Instruct",
                                  "/api/v1/models/qwen/QWEN2.5-7b-instruct"])
def test_name_may_contain_a_slash_and_is_case_insensitive(gpu, catalog, path):
    expected = sorted(m.name for m in catalog if "qwen/qwen2.5-7b-instruct" in m.name.lower())
    body = get_json(gpu, path)
    assert "Qwen/Qwen2.5-7B-Instruct" in expected
    assert sorted(names(body)) == expected and body["total_models"] == len(expected)
    assert body["filters"]["name"].lower() == "qwen/qwen2.5-7b-instruct"


def test_name_that_matches_nothing_is_an_empty_envelope(gpu):
    body = get_json(gpu, "/api/v1/models/no-such-model-xyz")
    assert (body["total_models"], body["returned_models"], body["models"]) == (0, 0, [])


def test_empty_name_is_404_pointing_to_the_listing(gpu):
    for path in ("/api/v1/models/", "/api/v1/models/%20"):
        assert assert_error(gpu, path, 404) == "no model name given: use /api/v1/models to list all"


def test_name_combines_with_filters(gpu):
    body = get_json(gpu, "/api/v1/models/qwen?use_case=coding&limit=100")
    assert body["models"] and all("qwen" in r["name"].lower() and r["category"] == "Coding"
                                  for r in body["models"])


# --- fit filters ------------------------------------------------------------------------------


def test_models_include_too_tight_by_default_and_not_when_false(cpu):
    full = get_json(cpu, "/api/v1/models")
    tight = [r["name"] for r in full["models"] if r["fit_level"] == "too_tight"]
    assert tight, "the CPU box must have models that do not fit"
    body = get_json(cpu, "/api/v1/models?include_too_tight=false")
    assert body["total_models"] == full["total_models"] - len(tight)
    assert not set(tight) & set(names(body))


@pytest.mark.parametrize("query", ["", "include_too_tight=true", "min_fit=too_tight&limit=1000",
                                   "sort=params&include_too_tight=yes&limit=1000"])
def test_top_never_lists_too_tight_models(cpu, query):
    body = get_json(cpu, f"/api/v1/models/top?{query}")
    assert body["models"] and all(r["fit_level"] != "too_tight" for r in body["models"])
    assert body["filters"]["include_too_tight"] is False


def test_top_counts_runnable_generative_models(cpu):
    full = get_json(cpu, "/api/v1/models")["models"]
    runnable = [r for r in full if r["fit_level"] != "too_tight" and r["category"] != "Embedding"]
    assert get_json(cpu, "/api/v1/models/top")["total_models"] == len(runnable)


def test_top_lists_embedding_models_only_when_asked(gpu):
    assert all(r["category"] != "Embedding"
               for r in get_json(gpu, "/api/v1/models/top?limit=1000")["models"])
    body = get_json(gpu, "/api/v1/models/top?use_case=embedding")
    assert body["models"] and all(r["category"] == "Embedding" for r in body["models"])


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE", "Yes"])
def test_perfect_keeps_only_perfect_fits(gpu, value):
    full = get_json(gpu, "/api/v1/models")["models"]
    body = get_json(gpu, f"/api/v1/models?perfect={value}")
    assert body["total_models"] == sum(r["fit_level"] == "perfect" for r in full) > 0
    assert {r["fit_level"] for r in body["models"]} == {"perfect"}


@pytest.mark.parametrize("value", ["false", "0", "no"])
def test_perfect_false_filters_nothing(gpu, catalog, value):
    assert get_json(gpu, f"/api/v1/models?perfect={value}")["total_models"] == len(catalog)


@pytest.mark.parametrize("min_fit", ["perfect", "good", "marginal", "too_tight"])
def test_min_fit_keeps_this_level_and_better(client_for, min_fit):
    client = client_for(rtx4090_box())  # has rows at all four levels
    full = get_json(client, "/api/v1/models")["models"]
    assert {r["fit_level"] for r in full} == set(LEVEL_RANK)
    expected = sorted(r["name"] for r in full if LEVEL_RANK[r["fit_level"]] >= LEVEL_RANK[min_fit])
    assert sorted(names(get_json(client, f"/api/v1/models?min_fit={min_fit}"))) == expected


# --- runtime, use_case, provider, search -------------------------------------------------------


@pytest.mark.parametrize("value, code", [("mlx", "mlx"), ("llamacpp", "llamacpp"),
                                         ("llama.cpp", "llamacpp"), ("LLAMA.CPP", "llamacpp")])
def test_runtime_keeps_rows_of_that_runtime(client_for, value, code):
    apple = client_for(m2_max_box())  # MLX where published, llama.cpp otherwise
    full = get_json(apple, "/api/v1/models")["models"]
    expected = sorted(r["name"] for r in full if r["runtime"] == code)
    body = get_json(apple, f"/api/v1/models?runtime={value}")
    assert expected and sorted(names(body)) == expected
    assert body["filters"]["runtime"] == code


def test_runtime_any_filters_nothing_and_vllm_is_never_chosen_by_default(gpu, catalog):
    body = get_json(gpu, "/api/v1/models?runtime=any")
    assert body["total_models"] == len(catalog) and body["filters"]["runtime"] is None
    assert get_json(gpu, "/api/v1/models?runtime=vllm")["total_models"] == 0


@pytest.mark.parametrize("use_case", q.USE_CASE_VALUES)
def test_use_case_is_a_category_filter(cpu, use_case):
    full = get_json(cpu, "/api/v1/models")["models"]
    expected = sorted(r["name"] for r in full if r["category"].lower() == use_case)
    body = get_json(cpu, f"/api/v1/models?use_case={use_case.upper()}")
    assert expected and sorted(names(body)) == expected


@pytest.mark.parametrize("provider", ["qwen", "META", "Mistral AI", "deepseek-ai"])
def test_provider_matches_provider_or_repo_owner_ignoring_case(cpu, provider):
    full = get_json(cpu, "/api/v1/models")["models"]
    needle = provider.lower()
    expected = sorted(r["name"] for r in full
                      if needle in r["provider"].lower() or needle in r["name"].split("/")[0].lower())
    body = get_json(cpu, f"/api/v1/models?provider={provider}")
    assert expected and sorted(names(body)) == expected


@pytest.mark.parametrize("needle", ["CODER", "8b", "embedding", "reason"])
def test_search_looks_in_name_provider_size_use_case_and_category(cpu, catalog, needle):
    full = get_json(cpu, "/api/v1/models")["models"]
    family = {m.name: m.family for m in catalog}
    fields = ("name", "provider", "parameter_count", "use_case", "category")

    def hit(row) -> bool:
        return any(needle.lower() in row[f].lower() for f in fields)

    got = set(names(get_json(cpu, f"/api/v1/models?search={needle}")))
    assert {r["name"] for r in full if hit(r)} <= got
    assert got and all(hit(r) or needle.lower() in family[r["name"]].lower()
                       for r in full if r["name"] in got)


# --- sort -------------------------------------------------------------------------------------


def _sort_key(sort: str):
    value = {
        "score": lambda r: r.scores.total,
        "tps": lambda r: -1.0 if r.tps is None else r.tps,
        "params": lambda r: r.model.params_b,
        "mem": lambda r: r.required_gib,
        "ctx": lambda r: r.model.context_length,
        "date": lambda r: date.fromisoformat(r.model.release_date).toordinal(),
    }
    if sort == "use_case":
        return lambda r: (r.level is FitLevel.TOO_TIGHT, r.model.use_case.lower(),
                          -r.scores.total, r.model.name.lower())
    return lambda r: (r.level is FitLevel.TOO_TIGHT, -value[sort](r), -r.scores.total,
                      r.model.name.lower())


@pytest.mark.parametrize("sort", q.SORT_VALUES)
@pytest.mark.parametrize("machine", ["cpu", "rtx4090"])
def test_sort_orders_runnable_first_then_key_then_score_then_name(service_for, sort, machine):
    service = service_for(MACHINES[machine]())
    client = TestClient(create_app(service))
    results, _ = service.analyses(service.snapshot(), AnalysisOptions())
    expected = [r.model.name for r in sorted(results, key=_sort_key(sort))]
    body = get_json(client, f"/api/v1/models?sort={sort.upper()}")
    assert names(body) == expected
    levels = [r["fit_level"] for r in body["models"]]
    first_tight = levels.index("too_tight")
    assert set(levels[first_tight:]) == {"too_tight"}  # too_tight rows always last


# --- analysis options -------------------------------------------------------------------------


@pytest.mark.parametrize("query, cap", [("", 8192), ("max_context=2048", 2048),
                                        ("max_context=10000000", 10_000_000)])
def test_max_context_sets_effective_context_length(gpu, query, cap):
    body = get_json(gpu, f"/api/v1/models?{query}")
    assert all(r["effective_context_length"] == min(r["context_length"], cap)
               for r in body["models"])
    assert body["filters"]["max_context"] == (None if cap == 8192 else cap)


def test_service_max_context_is_the_default_and_the_query_wins(client_for):
    client = client_for(rtx4090_box(), max_context=4096)  # `serve --max-context 4096`
    body = get_json(client, "/api/v1/models")
    assert body["filters"]["max_context"] == 4096
    assert all(r["effective_context_length"] == min(r["context_length"], 4096) for r in body["models"])
    body = get_json(client, "/api/v1/models?max_context=1024")
    assert all(r["effective_context_length"] == min(r["context_length"], 1024) for r in body["models"])


@pytest.mark.parametrize("machine, value, code", [("rtx4090", "vllm", "vllm"),
                                                  ("m2_max", "llama.cpp", "llamacpp"),
                                                  ("rtx4090", "MLX", "mlx")])
def test_force_runtime_analyses_every_row_for_that_runtime(client_for, catalog, machine, value, code):
    body = get_json(client_for(MACHINES[machine]()), f"/api/v1/models?force_runtime={value}")
    assert body["total_models"] == len(catalog)
    assert {(r["runtime"], r["runtime_label"]) for r in body["models"]} == {(code, RUNTIME_LABELS[code])}
    assert body["filters"]["force_runtime"] == code


@pytest.mark.parametrize("machine, value, name", [("rtx4090", "q4_k_m", "Q4_K_M"),
                                                  ("cpu", "Q8_0", "Q8_0"),
                                                  ("m2_max", "MLX-4BIT", "mlx-4bit")])
def test_quant_pins_the_quantization(client_for, machine, value, name):
    body = get_json(client_for(MACHINES[machine]()), f"/api/v1/models?quant={value}")
    assert body["filters"]["quant"] == name
    assert {r["best_quant"] for r in body["models"]} == {name}


# --- what-if hardware -------------------------------------------------------------------------


def test_system_what_if(client_for):
    client = client_for(rtx4090_box())
    body = get_json(client, "/api/v1/system?ram_gb=8&vram_gb=12&cpu_cores=3")["system"]
    assert (body["total_ram_gb"], body["available_ram_gb"], body["cpu_cores"],
            body["gpu_vram_gb"], body["gpu_available_gb"]) == (8.0, 8.0, 3, 12.0, 12.0)
    assert type(body["cpu_cores"]) is int
    assert get_json(client, "/api/v1/system")["system"]["total_ram_gb"] == 64.0  # snapshot kept


def test_models_what_if_equals_the_same_machine_detected(client_for):
    what_if = get_json(client_for(cpu_box()), "/api/v1/models?ram_gb=8&cpu_cores=4")
    real = get_json(client_for(cpu_box(cores=4, ram=8, available=8)), "/api/v1/models")
    assert what_if["models"] == real["models"]
    assert (what_if["system"]["total_ram_gb"], what_if["system"]["cpu_cores"]) == (8.0, 4)
    assert (what_if["filters"]["ram_gb"], what_if["filters"]["cpu_cores"]) == (8.0, 4)


def test_vram_what_if_equals_a_smaller_card(client_for):
    card = GpuDevice("NVIDIA GeForce RTX 4090", 12.0, 12.0, "CUDA", 1, False, 1008.0)
    smaller = SystemSpec(total_ram_gib=64.0, available_ram_gib=60.0, cpu_cores=16,
                         cpu_name="Test CPU", gpus=(card,))
    what_if = get_json(client_for(rtx4090_box()), "/api/v1/models/top?vram_gb=12&limit=20")
    assert what_if["models"] == get_json(client_for(smaller), "/api/v1/models/top?limit=20")["models"]


# --- field types ------------------------------------------------------------------------------


def _two_decimals(x) -> bool:
    return type(x) is float and round(x, 2) == x


def _one_decimal(x) -> bool:
    return type(x) is float and round(x, 1) == x


def check_system(system) -> None:
    for key in ("total_ram_gb", "available_ram_gb"):
        assert _two_decimals(system[key]), key
    for key in ("gpu_vram_gb", "gpu_available_gb"):
        assert system[key] is None or _two_decimals(system[key]), key
    assert type(system["cpu_cores"]) is int and type(system["gpu_count"]) is int
    assert isinstance(system["cpu_name"], str) and system["cpu_name"]
    assert type(system["has_gpu"]) is bool and type(system["unified_memory"]) is bool
    for g in system["gpus"]:
        assert set(g) >= {"name", "vram_gb", "free_vram_gb", "backend", "count",
                          "unified_memory", "memory_bandwidth_gbps"}
        assert type(g["count"]) is int and _two_decimals(g["vram_gb"])


def check_row(row) -> None:
    assert ROW_KEYS <= set(row), ROW_KEYS - set(row)
    for key in ("context_length", "effective_context_length", "usable_context"):
        assert type(row[key]) is int, key
    assert all(type(n) is int for n in row["supports_tp"])
    for key in ("memory_required_gb", "memory_available_gb", "total_memory_gb", "disk_size_gb"):
        assert _two_decimals(row[key]), (key, row[key])
    assert row["moe_offloaded_gb"] is None or _two_decimals(row["moe_offloaded_gb"])
    assert _one_decimal(row["score"]) and _one_decimal(row["utilization_pct"])
    assert row["estimated_tps"] is None or _one_decimal(row["estimated_tps"])
    assert set(row["score_components"]) == {"quality", "speed", "fit", "context"}
    assert all(_one_decimal(v) and 0 <= v <= 100 for v in row["score_components"].values())
    assert FIT_LABELS[row["fit_level"]] == row["fit_label"]
    assert MODE_LABELS[row["run_mode"]] == row["run_mode_label"]
    assert RUNTIME_LABELS[row["runtime"]] == row["runtime_label"]
    assert row["capability_ids"] == row["capabilities"]
    assert row["category"] in {"General", "Coding", "Reasoning", "Chat", "Multimodal", "Embedding"}
    assert row["release_date"] is None or re.fullmatch(r"\d{4}-\d\d-\d\d", row["release_date"])
    assert type(row["is_moe"]) is bool and row["installed"] is False
    assert all(isinstance(n, str) for n in row["notes"])
    assert all(set(g) == {"repo", "provider"} for g in row["gguf_sources"])
    assert set(row["estimate_basis"]) >= {"method", "gpu_bandwidth_gbps", "ddr_bandwidth_gbps",
                                         "efficiency", "assumed_context", "local_calibration"}
    assert row["effective_context_length"] == min(row["context_length"], 8192)
    assert row["usable_context"] <= row["context_length"]


@pytest.mark.parametrize("machine", sorted(MACHINES))
def test_every_row_and_system_has_the_contract_types(client_for, machine):
    client = client_for(MACHINES[machine]())
    body = get_json(client, "/api/v1/models")
    assert type(body["total_models"]) is int and type(body["returned_models"]) is int
    check_system(body["system"])
    check_system(get_json(client, "/api/v1/system")["system"])
    for row in body["models"]:
        check_row(row)


def test_missing_values_are_null_keys_not_absent(cpu):
    rows = get_json(cpu, "/api/v1/models")["models"]
    tight = next(r for r in rows if r["fit_level"] == "too_tight")
    assert tight["estimated_tps"] is None and "estimated_tps" in tight
    assert all(r["moe_offloaded_gb"] is None for r in rows)  # no GPU, no MoE offload
    system = get_json(cpu, "/api/v1/system")["system"]
    assert {k: system[k] for k in ("gpu_vram_gb", "gpu_available_gb", "gpu_name")} == \
        dict.fromkeys(("gpu_vram_gb", "gpu_available_gb", "gpu_name"))


# --- errors -----------------------------------------------------------------------------------

ENUM_ERRORS = [
    ("min_fit=best", "invalid min_fit value: use perfect|good|marginal|too_tight"),
    ("runtime=ollama", "invalid runtime value: use any|llamacpp|llama.cpp|mlx|vllm"),
    ("use_case=fun", "invalid use_case value: use general|coding|reasoning|chat|multimodal|embedding"),
    ("sort=name", "invalid sort value: use score|tps|params|mem|ctx|date|use_case"),
    ("sort=", "invalid sort value: use score|tps|params|mem|ctx|date|use_case"),
    ("force_runtime=any", "invalid force_runtime value: use llamacpp|llama.cpp|mlx|vllm"),
    ("perfect=maybe", "invalid perfect value: use true|false (also 1|0, yes|no)"),
    ("include_too_tight=2", "invalid include_too_tight value: use true|false (also 1|0, yes|no)"),
]
NUMBER_ERRORS = [  # (query, parameter named in the error)
    ("limit=abc", "limit"), ("limit=1.5", "limit"), ("n=abc", "n"), ("limit=", "limit"),
    ("limit=-1", "limit"), ("limit=100000000000000000000000", "limit"),
    ("max_context=abc", "max_context"), ("max_context=0", "max_context"),
    ("max_context=-4096", "max_context"), ("max_context=99999999999", "max_context"),
    ("ram_gb=lots", "ram_gb"), ("ram_gb=0", "ram_gb"), ("ram_gb=-8", "ram_gb"),
    ("ram_gb=nan", "ram_gb"), ("ram_gb=1e30", "ram_gb"), ("vram_gb=inf", "vram_gb"),
    ("vram_gb=-0", "vram_gb"), ("vram_gb=", "vram_gb"), ("cpu_cores=two", "cpu_cores"),
    ("cpu_cores=0", "cpu_cores"), ("cpu_cores=-2", "cpu_cores"), ("cpu_cores=1000000", "cpu_cores"),
    ("cpu_cores=2.5", "cpu_cores"),
]


def assert_error(client: TestClient, url: str, status: int) -> str:
    body = get_json(client, url, status)
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return body["error"]


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("query, message", ENUM_ERRORS)
def test_invalid_choice_names_parameter_and_allowed_values(gpu, path, query, message):
    assert assert_error(gpu, f"{path}?{query}", 400) == message


@pytest.mark.parametrize("path", LISTINGS)
def test_invalid_quant_lists_the_known_quants(gpu, path):
    error = assert_error(gpu, f"{path}?quant=Q9_Z", 400)
    assert error.startswith("invalid quant value: use ")
    assert {"Q4_K_M", "Q8_0", "mlx-4bit", "BF16"} <= set(error.split("use ", 1)[1].split("|"))


@pytest.mark.parametrize("path", LISTINGS)
@pytest.mark.parametrize("query, param", NUMBER_ERRORS)
def test_invalid_number_answers_400_naming_the_parameter(gpu, path, query, param):
    error = assert_error(gpu, f"{path}?{query}", 400)
    assert error.startswith(f"invalid {param} value: ")
    assert "number" in error


@pytest.mark.parametrize("query, param", [(qs, p) for qs, p in NUMBER_ERRORS
                                          if p in ("ram_gb", "vram_gb", "cpu_cores")])
def test_invalid_what_if_on_system_answers_400(gpu, query, param):
    assert assert_error(gpu, f"/api/v1/system?{query}", 400).startswith(f"invalid {param} value: ")


@pytest.mark.parametrize("param", ["provider", "search"])
def test_overlong_text_answers_400(gpu, param):
    assert assert_error(gpu, f"/api/v1/models?{param}={'x' * 201}", 400) == \
        f"invalid {param} value: at most 200 characters"


def test_unknown_parameters_are_ignored(gpu):
    plain = get_json(gpu, "/api/v1/models/top?limit=3")
    extra = get_json(gpu, "/api/v1/models/top?limit=3&foo=bar&LIMIT=x&min_fit_v2=best&page=2")
    assert extra == plain
    assert get_json(gpu, "/api/v1/system?verbose=1") == get_json(gpu, "/api/v1/system")


@pytest.mark.parametrize("path", ["/nope", "/api", "/api/v1", "/api/v2/models", "/api/v1/systems",
                                  "/health/x", "/api/v1/model"])
def test_unknown_path_is_404_json(gpu, path):
    assert assert_error(gpu, path, 404) == f"no such endpoint: {path}"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize("path", ENDPOINTS)
def test_other_methods_are_405_json(gpu, method, path):
    response = gpu.request(method, path)
    assert response.status_code == 405
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": f"method {method} is not allowed on {path}; use GET"}
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("path, method", [("/api/v1/models/top", "models_body"),
                                          ("/api/v1/models?limit=2", "models_body"),
                                          ("/api/v1/system", "system_body")])
def test_unexpected_exception_is_500_json_and_logged(service_for, caplog, path, method):
    service = service_for(cpu_box())

    def explode(*args, **kwargs):
        raise RuntimeError("secret detail /etc/llmfit")

    setattr(service, method, explode)
    client = TestClient(create_app(service), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="llmfit.server"):
        response = client.get(path)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "internal error: the server logged the details"}
    assert "secret" not in response.text and "Traceback" not in response.text
    logged = [r for r in caplog.records if r.name == "llmfit.server"]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is RuntimeError
    assert path.split("?")[0] in logged[0].getMessage()
    assert get_json(client, "/health")["status"] == "ok"  # the server keeps serving


# --- caching ----------------------------------------------------------------------------------


def test_identical_requests_reuse_the_cached_analysis(service_for, catalog, monkeypatch):
    import llmfit.service

    calls = []
    real = llmfit.service.analyse
    monkeypatch.setattr(llmfit.service, "analyse", lambda *a, **k: calls.append(1) or real(*a, **k))
    client = TestClient(create_app(service_for(rtx4090_box())))
    first = get_json(client, "/api/v1/models/top")
    assert len(calls) == len(catalog)
    assert get_json(client, "/api/v1/models/top") == first
    get_json(client, "/api/v1/models?min_fit=good&sort=tps")  # same machine and options
    assert len(calls) == len(catalog)
    get_json(client, "/api/v1/models/top?max_context=4096")  # other options: analysed again
    assert len(calls) == 2 * len(catalog)


def test_snapshot_is_refreshed_after_the_interval(service_for, monkeypatch):
    import llmfit.service

    now = [1000.0]
    monkeypatch.setattr(llmfit.service, "time", SimpleNamespace(monotonic=lambda: now[0]))
    machines = iter([cpu_box(available=20.0), cpu_box(available=12.5), cpu_box(available=3.0)])
    probes = []

    def probe() -> SystemSpec:
        probes.append(now[0])
        return next(machines)

    from llmfit.service import LlmfitService

    service = LlmfitService(catalog=service_for(cpu_box()).catalog, probe=probe, refresh_seconds=5)
    client = TestClient(create_app(service))

    def available() -> float:
        return get_json(client, "/api/v1/system")["system"]["available_ram_gb"]

    def top_available() -> float:
        return get_json(client, "/api/v1/models/top")["system"]["available_ram_gb"]

    assert (available(), top_available()) == (20.0, 20.0)
    now[0] = 1005.5
    assert (available(), top_available()) == (20.0, 20.0)  # requests never probe
    assert probes == [1000.0]
    service.refresh()  # what the background refresher does every interval
    assert (top_available(), available()) == (12.5, 12.5)  # the cached /top body is not reused
    assert probes == [1000.0, 1005.5]


def test_the_refresher_thread_reprobes_in_the_background(service_for):
    import time

    from llmfit.service import LlmfitService

    probes = []
    service = LlmfitService(catalog=service_for(cpu_box()).catalog, pulled_probe=frozenset,
                            probe=lambda: probes.append(1) or cpu_box(), refresh_seconds=0.05)
    service.snapshot()
    assert service.start_refresher() is not None
    deadline = time.monotonic() + 5
    while len(probes) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    service.close()
    assert len(probes) >= 3


def test_without_refresh_interval_the_snapshot_is_kept(service_for, monkeypatch):
    import llmfit.service

    now = [0.0]
    monkeypatch.setattr(llmfit.service, "time", SimpleNamespace(monotonic=lambda: now[0]))
    probes = []
    from llmfit.service import LlmfitService

    service = LlmfitService(catalog=service_for(cpu_box()).catalog,
                            probe=lambda: probes.append(1) or cpu_box())
    client = TestClient(create_app(service))
    for now[0] in (0.0, 100.0, 1e6):
        get_json(client, "/api/v1/models/top")
    assert probes == [1]


# --- one serializer: CLI --json == API body ---------------------------------------------------


@pytest.mark.parametrize("args, path", [
    (["top", "--json"], "/api/v1/models/top"),
    (["models", "--json", "--min-fit", "good", "--limit", "7", "--sort", "tps"],
     "/api/v1/models?min_fit=good&limit=7&sort=tps"),
    (["search", "qwen", "--json", "--use-case", "coding"], "/api/v1/models/qwen?use_case=coding"),
    (["--max-context", "4096", "top", "--json", "-n", "3"], "/api/v1/models/top?max_context=4096&n=3"),
    (["models", "--json", "--force-runtime", "vllm", "--quant", "awq", "--no-include-too-tight"],
     "/api/v1/models?force_runtime=vllm&quant=awq&include_too_tight=false"),
    (["system", "--json"], "/api/v1/system"),
])
def test_cli_json_equals_the_api_body(client_for, monkeypatch, args, path):
    from typer.testing import CliRunner

    from llmfit.cli import app

    monkeypatch.setattr("llmfit.service.detect_machine", lambda **_: rtx4090_box())
    monkeypatch.delenv("LLMFIT_CATALOG", raising=False)
    api = get_json(client_for(rtx4090_box()), path)
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == api


# --- hardening (issue #8) --------------------------------------------------------------------


def test_no_redirect_echoes_the_host_header(service_for):
    client = TestClient(create_app(service_for(cpu_box())))
    answer = client.get("/health/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert answer.status_code == 404 and "location" not in answer.headers
    assert answer.json() == {"error": "no such endpoint: /health/"}


def test_cors_is_off_by_default_and_allows_only_the_given_origins(service_for):
    plain = TestClient(create_app(service_for(cpu_box())))
    assert "access-control-allow-origin" not in plain.get(
        "/health", headers={"Origin": "http://dash.example"}).headers
    client = TestClient(create_app(service_for(cpu_box()), ("http://dash.example",)))
    ok = client.get("/api/v1/models/top", headers={"Origin": "http://dash.example"})
    assert ok.headers["access-control-allow-origin"] == "http://dash.example"
    other = client.get("/health", headers={"Origin": "http://other.example"})
    assert "access-control-allow-origin" not in other.headers
    pre = client.options("/api/v1/models", headers={"Origin": "http://dash.example",
                                                     "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200


def test_the_body_cache_is_bounded_in_bytes(service_for, monkeypatch):
    from llmfit import server as srv

    monkeypatch.setattr(srv._BodyCache, "MAX_BYTES", 1_000_000)
    cache = srv._BodyCache(service_for(cpu_box()))
    total = 0
    for n in range(1, 40):
        total += len(cache.listing(parse_query({"limit": str(n * 2)})))
        assert cache.total_bytes <= 1_000_000
    assert total > 1_000_000  # more was built than the cache may keep
    assert cache.cached(parse_query({"limit": "2"})) is None  # the oldest were evicted
    assert cache.cached(parse_query({"limit": str(39 * 2)})) is not None


def test_a_hung_probe_never_blocks_answers_and_health_says_degraded(service_for, monkeypatch):
    import threading
    import time

    from llmfit import service as svc

    monkeypatch.setattr(svc, "PROBE_TIMEOUT_S", 0.3)
    release = threading.Event()
    calls = []

    def probe():
        calls.append(1)
        if len(calls) > 1:
            release.wait(30)  # the second probe hangs like a stuck driver
        return cpu_box()

    service = svc.LlmfitService(catalog=service_for(cpu_box()).catalog, probe=probe,
                                pulled_probe=frozenset, refresh_seconds=0.05)
    client = TestClient(create_app(service))
    assert client.get("/health").json()["status"] == "ok"
    started = time.monotonic()
    service.refresh()  # the hung probe is abandoned after 0.3 s
    assert time.monotonic() - started < 2
    health = client.get("/health").json()
    assert health["status"] == "degraded" and "TimeoutError" in health["probe_error"]
    assert client.get("/api/v1/models/top").status_code == 200  # served from the last snapshot
    release.set()


def test_a_probe_that_fails_first_still_lets_the_server_answer(service_for, monkeypatch):
    def broken():
        raise RuntimeError("NVML_ERROR_UNKNOWN")

    from llmfit.service import LlmfitService

    service = LlmfitService(catalog=service_for(cpu_box()).catalog, probe=broken,
                            pulled_probe=frozenset, refresh_seconds=5)
    client = TestClient(create_app(service))
    health = client.get("/health").json()
    assert health["status"] == "degraded" and "NVML_ERROR_UNKNOWN" in health["probe_error"]
    system = client.get("/api/v1/system").json()["system"]
    assert system["has_gpu"] is False and system["total_ram_gb"] > 0
    assert any("hardware probe failed" in n for n in system["notes"])


@pytest.mark.parametrize("origin", ["", "not a url", "ftp://x.example", "http://x.example/path"])
def test_bad_cors_origins_are_usage_errors(cli, origin):
    result = cli(80)("serve", "--port", "0", "--cors-origin", origin)
    assert result.exit_code == 2 and "invalid --cors-origin value" in result.stderr


def test_good_cors_origins_pass():
    from llmfit.server import check_origin

    assert check_origin("http://localhost:3000/") == "http://localhost:3000"
    assert check_origin("https://[::1]:8443") == "https://[::1]:8443" and check_origin("*") == "*"
