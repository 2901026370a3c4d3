"""KV-cache types, parallel sequences, prompt speed and the license/capability filters on rows."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from conftest import cpu_box, m2_max_box, rtx4090_box
from llmfit.prefill import TTFT_PROMPT_TOKENS, flops_per_token, prefill_table


@pytest.fixture
def client(service_for):
    from llmfit.server import create_app

    def make(system):
        return TestClient(create_app(service_for(system)), raise_server_exceptions=False)

    return make


def _row(client, name, **params):
    body = client.get(f"/api/v1/models/{name}", params={"limit": 1, **params}).json()
    return body["models"][0]


def test_kv_types_and_parallel_sequences_scale_the_cache_exactly(client):
    c = client(rtx4090_box())
    name = "meta-llama/Llama-3.1-8B-Instruct"
    fp16 = _row(c, name, quant="Q4_K_M")
    # Llama-3.1-8B: 32 layers x 8 KV heads x 128 x (K+V) x 8,192 tokens x 2 bytes = 1 GiB.
    assert fp16["memory_breakdown"]["kv_cache_gb"] == 1.0
    q8 = _row(c, name, quant="Q4_K_M", kv_quant="q8_0")
    assert q8["memory_breakdown"]["kv_cache_gb"] == round(34 / 32 / 2, 2)
    q4 = _row(c, name, quant="Q4_K_M", kv_quant="q4_0", parallel=4)
    assert q4["memory_breakdown"]["kv_cache_gb"] == round(4 * 18 / 32 / 2, 2)
    assert q4["memory_required_gb"] == pytest.approx(
        fp16["memory_required_gb"] - 1.0 + 4 * 18 / 64, abs=0.011)
    assert any("4 parallel sequences" in n for n in q4["notes"])
    assert q4["aggregate_tps"] == pytest.approx(4 * q4["estimated_tps"], abs=0.25)
    assert q4["estimated_tps"] < fp16["estimated_tps"]  # four caches attended per step
    assert fp16["aggregate_tps"] == fp16["estimated_tps"]


def test_a_kv_type_the_runtime_cannot_store_falls_back_with_a_note(client):
    mac = _row(client(m2_max_box()), "meta-llama/Llama-3.1-8B-Instruct", kv_quant="fp8")
    assert mac["runtime"] == "mlx"
    assert "MLX cannot keep the KV cache as fp8; the figures assume fp16." in mac["notes"]
    plain = _row(client(m2_max_box()), "meta-llama/Llama-3.1-8B-Instruct")
    assert mac["memory_breakdown"] == plain["memory_breakdown"]


def test_license_and_capability_filters(client, catalog):
    c = client(rtx4090_box())
    body = c.get("/api/v1/models", params={"license": "Apache-2.0,mit"}).json()
    licenses = {m["license"] for m in body["models"]}
    assert licenses == {"apache-2.0", "mit"}
    assert body["total_models"] == sum(1 for m in catalog if m.license in ("apache-2.0", "mit"))
    assert body["filters"]["license"] == ["apache-2.0", "mit"]
    both = c.get("/api/v1/models", params={"capability": "tool_use,vision"}).json()["models"]
    assert both and all({"tool_use", "vision"} <= set(m["capability_ids"]) for m in both)
    assert len(both) == sum(1 for m in catalog if {"tool_use", "vision"} <= set(m.capabilities))
    bad = c.get("/api/v1/models", params={"capability": "telepathy"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("invalid capability value: use tool_use|")
    assert c.get("/api/v1/models", params={"kv_quant": "q2"}).json()["error"] == \
        "invalid kv_quant value: use fp16|fp8|q8_0|q4_0"
    assert c.get("/api/v1/models", params={"parallel": "0"}).status_code == 400


def test_prefill_is_peak_compute_times_the_backends_efficiency(client, catalog):
    row = _row(client(rtx4090_box()), "meta-llama/Llama-3.1-8B-Instruct", quant="Q4_K_M")
    model = next(m for m in catalog if m.name == "meta-llama/Llama-3.1-8B-Instruct")
    cuda = prefill_table()["cuda"].efficiency
    expected = cuda * 330.3e12 / flops_per_token(model.arch, model.params_b)  # RTX 4090: 330.3 TFLOPS
    assert row["prefill_tps"] == round(expected, 1)
    at_1024 = cuda * 330.3e12 / flops_per_token(model.arch, model.params_b, TTFT_PROMPT_TOKENS)
    ttft = 1000 * (TTFT_PROMPT_TOKENS / at_1024 + 1 / row["estimated_tps"])
    assert row["ttft_ms"] == pytest.approx(ttft, rel=0.01)


def test_cpu_prefill_uses_the_cores_and_an_unknown_gpu_gives_null(client, catalog):
    row = _row(client(cpu_box(cores=2)), "meta-llama/Llama-3.2-1B-Instruct", quant="Q4_K_M")
    model = next(m for m in catalog if m.name == "meta-llama/Llama-3.2-1B-Instruct")
    cpu = prefill_table()["cpu"].efficiency
    assert row["prefill_tps"] == round(cpu * 2 * 3.0 * 32 * 1e9 / flops_per_token(model.arch, model.params_b), 1)
    no_gpu = client(rtx4090_box()).get("/api/v1/models/top", params={"vram_gb": "0"}).json()
    assert no_gpu["system"]["has_gpu"] is False
    assert all(m["run_mode"] == "cpu_only" for m in no_gpu["models"])


def test_info_takes_the_kv_type_and_sequences_too(cli):
    import json

    done = cli(120)("info", "Qwen/Qwen3-8B", "--kv-quant", "q4_0", "--parallel", "2", "--json")
    assert done.exit_code == 0, done.output
    row = json.loads(done.stdout)["models"][0]
    # Qwen3-8B: 36 layers x 8 KV heads x 128 x (K+V) x 8,192 tokens, q4_0 = 18/32 bytes, 2 caches.
    assert row["memory_breakdown"]["kv_cache_gb"] == round(36 * 8 * 128 * 2 * 8192 * 18 / 32 * 2 / 2**30, 2)


def test_a_gpu_generation_with_rows_has_its_own_prefill_efficiency(catalog):
    # On ROCm the Strix Halo APU reaches ~0.21 of its FP16 peak in pp512 and discrete RDNA3
    # cards ~0.36; one median over both missed each by 40%. A generation with rows uses its
    # own; one without (CDNA3) the backend's.
    from llmfit.prefill import device_prefill_tps

    model = next(m for m in catalog if m.name == "meta-llama/Llama-3.1-8B-Instruct")
    table = prefill_table()
    flops = flops_per_token(model.arch, model.params_b)
    rdna3 = device_prefill_tps(model.arch, model.params_b, 122.8, "rocm", generation="rdna3")
    assert rdna3 == pytest.approx(table["rocm/rdna3"].efficiency * 122.8e12 / flops)
    assert table["rocm/rdna3"].efficiency > 1.5 * table["rocm/rdna3.5-apu"].efficiency
    cdna3 = device_prefill_tps(model.arch, model.params_b, 1307.4, "rocm", generation="cdna3")
    assert cdna3 == pytest.approx(table["rocm"].efficiency * 1307.4e12 / flops)
