"""`llmfit plan` and POST /api/v1/plan: the hardware a model needs, from the listings' own model."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from conftest import cpu_box, m2_max_box, rtx4090_box
from llmfit.estimate import GIB, kv_cache_bytes
from llmfit.fit import AnalysisOptions, analyse
from llmfit.hardware.overrides import apply_overrides
from llmfit.kv_cache import KvCache
from llmfit.placement import FitLevel, machine_pools
from llmfit.plan import PlanRequest, make_plan

MACHINES = {"cpu-2core": cpu_box(), "rtx4090": rtx4090_box(), "m2max": m2_max_box()}


def _listing_row(model, base, hw: dict, plan):
    """The model analysed on the what-if machine exactly as `models --ram/--memory/--cpu-cores`
    builds it, with the plan's quant, context, KV type and sequences pinned."""
    system = apply_overrides(base, memory_gib=hw["vram_gb"], ram_gib=hw["ram_gb"],
                             cpu_cores=hw["cpu_cores"])
    options = AnalysisOptions(max_context=plan.context, quant=plan.quant,
                              kv_quant=plan.request.kv_quant, parallel=plan.request.parallel)
    return analyse(model, machine_pools(system), options)


@pytest.mark.parametrize("machine", MACHINES)
def test_plan_and_listings_never_contradict_each_other(catalog, machine):
    """For every catalog model: the listing analyses `minimum` as at least marginal and
    `recommended` as good or better, reaching the target speed where the plan says it does."""
    base = MACHINES[machine]
    checked = 0
    for i, model in enumerate(catalog):
        target = (5.0, None, 30.0)[i % 3]
        plan = make_plan(PlanRequest(model, target_tps=target, parallel=1 + i % 2,
                                     kv_quant=("fp16", "q8_0")[i % 2]), base)
        for path in plan.paths:
            if path.minimum is None:
                continue
            low = _listing_row(model, base, path.minimum.json(), plan)
            assert low.level >= FitLevel.MARGINAL, (model.name, path.mode, path.minimum)
            if path.recommended is None:
                continue
            high = _listing_row(model, base, path.recommended.json(), plan)
            assert high.level >= FitLevel.GOOD, (model.name, path.mode, path.recommended)
            if path.mode is plan.best.mode and path.target_reached:
                assert high.tps is not None and high.tps >= target, (model.name, high.tps)
            checked += 1
    assert checked > len(catalog)  # most models have more than one path with a recommendation


def test_a_dense_8b_on_a_cpu_node(catalog):
    model = next(m for m in catalog if m.name == "meta-llama/Llama-3.1-8B-Instruct")
    plan = make_plan(PlanRequest(model), cpu_box())
    assert plan.quant == "Q4_K_M" and plan.context == 8192
    # This node already runs it (the reference tool says "TooTight, CPU only, 0.0 tok/s").
    assert plan.current.level is FitLevel.GOOD and plan.current.tps > 1
    paths = {p.mode.code: p for p in plan.paths}
    assert paths["moe_offload"].minimum is None  # dense model
    assert paths["cpu_offload"].minimum is None  # it fits a GPU whole: nothing to split
    cpu = paths["cpu_only"]
    need = cpu.result.required_gib
    # CPU-only thresholds: marginal at 95% of RAM, good at 70%; figures rounded up to 0.1 GB.
    assert cpu.minimum.vram_gb == 0 and cpu.minimum.ram_gb == pytest.approx(need / 0.95, abs=0.11)
    assert cpu.recommended.ram_gb == pytest.approx(need / 0.70, abs=0.11)
    gpu = paths["gpu"]
    assert gpu.minimum.vram_gb == pytest.approx(gpu.result.required_gib, abs=0.11)
    assert gpu.recommended.vram_gb == pytest.approx(gpu.result.required_gib / 0.9, abs=0.11)
    assert plan.best.mode.code == "gpu"


def test_kv_types_shrink_the_cache_by_the_contracts_bytes(catalog):
    model = next(m for m in catalog if m.name == "Qwen/Qwen3-32B")
    from llmfit.service import LlmfitService

    service = LlmfitService(catalog=catalog, probe=lambda: rtx4090_box(), pulled_probe=frozenset)
    body = service.plan_body({"model": "Qwen3-32B", "context": 32768, "parallel": 2})
    fp16 = kv_cache_bytes(model.arch, 32768, KvCache("fp16", 2)) / GIB
    by_kind = {a["kv_quant"]: a for a in body["kv_alternatives"]}
    # Qwen3-32B: 64 layers x 8 KV heads x 128 x (K + V) = 262,144 elements per token.
    assert fp16 == pytest.approx(64 * 8 * 128 * 2 * 32768 * 2 * 2 / GIB)
    assert by_kind["fp16"]["kv_cache_gb"] == round(fp16, 2) == 16.0
    assert by_kind["fp8"]["kv_cache_gb"] == 8.0 and by_kind["fp8"]["savings_fraction"] == 0.5
    assert by_kind["q8_0"]["kv_cache_gb"] == 8.5 and by_kind["q8_0"]["savings_fraction"] == 0.469
    assert by_kind["q4_0"]["kv_cache_gb"] == 4.5 and by_kind["q4_0"]["savings_fraction"] == 0.719
    assert not by_kind["fp8"]["supported"] and by_kind["fp8"]["note"] == "not supported by llama.cpp"
    assert by_kind["q8_0"]["note"] == "--cache-type-k q8_0 --cache-type-v q8_0 -fa on"
    assert body["commands"]["llama_server"].endswith("-c 65536 -np 2 -ngl 99")


def test_plan_json_has_every_contract_key(catalog):
    from llmfit.service import LlmfitService

    service = LlmfitService(catalog=catalog, probe=lambda: cpu_box(), pulled_probe=frozenset)
    body = service.plan_body({"model": "Qwen/Qwen3-30B-A3B", "target_tps": 10,
                              "kv_quant": "q8_0"})
    for key in ("model_name", "provider", "context", "parallel", "quantization", "kv_quant",
                "target_tps", "disk_size_gb", "estimate_notice", "current", "minimum",
                "recommended", "run_paths", "upgrade_deltas", "kv_alternatives"):
        assert key in body
    assert [p["path"] for p in body["run_paths"]] == ["gpu", "moe_offload", "cpu_offload", "cpu_only"]
    assert set(body["current"]) == {"fit_level", "fit_label", "run_mode", "run_mode_label",
                                    "estimated_tps"}
    assert set(body["minimum"]) == {"vram_gb", "ram_gb", "cpu_cores"}
    assert all(set(d) == {"resource", "add_gb", "add_cores", "target_fit", "path", "description"}
               for d in body["upgrade_deltas"])
    moe = body["run_paths"][1]
    assert moe["feasible"] and moe["minimum"]["ram_gb"] > moe["minimum"]["vram_gb"]
    # From this 22 GB CPU node: a GPU (any size reaching good) or a little more RAM.
    resources = {(d["path"], d["resource"], d["target_fit"]) for d in body["upgrade_deltas"]}
    assert ("cpu_only", "ram_gb", "good") in resources and ("gpu", "vram_gb", "perfect") in resources


@pytest.fixture
def client(service_for):
    from llmfit.server import create_app

    return TestClient(create_app(service_for(cpu_box())))


@pytest.mark.parametrize(("body", "status", "error"), [
    ([1, 2], 400, "invalid body: send a JSON object"),
    ({}, 400, "invalid model: the field is required"),
    ({"model": "Llama-3.1-8B-Instruct", "context": "8k"}, 400, "invalid context"),
    ({"model": "Llama-3.1-8B-Instruct", "context": 0}, 400, "invalid context"),
    ({"model": "Llama-3.1-8B-Instruct", "target_tps": -1}, 400, "invalid target_tps"),
    ({"model": "Llama-3.1-8B-Instruct", "parallel": True}, 400, "invalid parallel"),
    ({"model": "Llama-3.1-8B-Instruct", "kv_quant": "q2"}, 400, "invalid kv_quant: use fp16|fp8|q8_0|q4_0"),
    ({"model": "Llama-3.1-8B-Instruct", "quant": "Q9"}, 400, "invalid quant value"),
    ({"model": "Llama-3.1-8B-Instruct", "ram_gb": 1e400}, 400, "invalid ram_gb"),
    ({"model": "Llama-3.1-8B-Instruct", "ram_gb": float("nan")}, 400, "not valid JSON"),
    ({"model": "no-such-model-anywhere"}, 404, "no model matches"),
    ({"model": "qwen3"}, 400, "matches"),
])
def test_bad_plan_requests_name_the_field(client, body, status, error):
    raw = json.dumps(body).replace("Infinity", "1e400")  # NaN stays: not JSON
    response = client.post("/api/v1/plan", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert error in response.json()["error"]


def test_plan_endpoint_methods_and_media_type(client):
    assert client.post("/api/v1/plan", content="model=x").status_code == 415
    assert client.post("/api/v1/plan", content="{", headers={"content-type": "application/json"}).status_code == 400
    wrong = client.get("/api/v1/plan")
    assert wrong.status_code == 405 and wrong.json()["error"].endswith("use POST")
    ok = client.post("/api/v1/plan", json={"model": "Llama-3.1-8B-Instruct", "vram_gb": 0,
                                           "ram_gb": 64, "cpu_cores": 8})
    assert ok.status_code == 200
    assert ok.json()["current"]["run_mode"] == "cpu_only"


def test_cli_plan_json_is_the_endpoint_body(cli, client):
    run = cli(120)
    done = run("plan", "Llama-3.1-8B-Instruct", "--context", "16384", "--kv-quant", "q8_0",
               "--target-tps", "12", "--json")
    assert done.exit_code == 0, done.output
    api = client.post("/api/v1/plan", json={"model": "Llama-3.1-8B-Instruct", "context": 16384,
                                            "kv_quant": "q8_0", "target_tps": 12,
                                            "cpu_cores": 4, "ram_gb": 28})
    cli_body, api_body = json.loads(done.stdout), api.json()
    assert cli_body["run_paths"] == api_body["run_paths"]
    assert cli_body["kv_alternatives"] == api_body["kv_alternatives"]
    report = run("plan", "Llama-3.1-8B-Instruct", "--target-tps", "12").stdout
    assert "Recommended (GPU)" in report and "KV-cache types" in report and "llama-server" in report
    bad = run("plan", "Llama-3.1-8B-Instruct", "--parallel", "0")
    assert bad.exit_code == 2 and "invalid --parallel" in bad.output


def test_an_unreachable_gpu_target_names_the_card_that_reaches_it(catalog):
    """On a node without a GPU the GPU path assumes the generic 448 GB/s card; when that misses
    the target, the plan names the slowest card of the device table that reaches it."""
    import re

    from llmfit.gpus import all_gpus

    model = next(m for m in catalog if m.name == "Qwen/Qwen3-32B")
    plan = make_plan(PlanRequest(model, context=32768, quant="Q4_K_M", target_tps=30), cpu_box())
    gpu = plan.paths[0]
    assert gpu.target_reached is False and gpu.result.tps < 30
    note = next(n for n in gpu.notes if n.startswith("A card with"))
    name = re.search(r"\((.+), with the memory above\)", note).group(1)
    card = next(g for g in all_gpus() if g.name == name)
    assert f"{card.bandwidth_gbps:g} GB/s" in note
    hw = gpu.recommended
    system = apply_overrides(cpu_box(), gpus=[name], memory_gib=hw.vram_gb, ram_gib=hw.ram_gb,
                             cpu_cores=hw.cpu_cores)
    options = AnalysisOptions(max_context=32768, quant=plan.quant)
    assert analyse(model, machine_pools(system), options).tps >= 30
