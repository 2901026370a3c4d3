"""Choosing runtime, quantization and run mode; ranking that makes sense on the machine at hand."""

from __future__ import annotations

import pytest

from conftest import cpu_box, dual_3090_box, m2_max_box, rtx4090_box
from llmfit.fit import AnalysisOptions, Runtime, analyse
from llmfit.placement import FitLevel, RunMode, fit_level, machine_pools
from llmfit.query import TOP, parse_query

GIB = 2**30


def result(catalog, system, name, **options):
    model = next(m for m in catalog if m.name == name)
    return analyse(model, machine_pools(system), AnalysisOptions(**options))


def test_memory_required_is_weights_plus_kv_plus_overhead_exactly(catalog):
    r = result(catalog, rtx4090_box(), "meta-llama/Llama-3.1-8B-Instruct")
    assert (r.quant, r.mode, r.level) == ("Q8_0", RunMode.GPU, FitLevel.PERFECT)
    embed = 128256 * 4096
    weights = 2 * embed * 8.5 / 8 + (8.03e9 - 2 * embed) * 8.517 / 8  # Q8_0 bits per weight
    kv = 2 * 8 * 128 * 32 * 8192 * 2  # K and V, 8 KV heads x 128, 32 layers, f16
    compute = 4 * 512 * (128256 + 4 * 4096 + 32 * 8192 / 8)  # f32 logits + scores, ubatch 512
    reserve = 457 * 2**20  # Ollama's CUDA minimum
    assert r.required_gib == pytest.approx((weights + kv + compute + reserve) / GIB, rel=1e-12)
    assert r.available_gib == 23.5
    assert r.effective_context == 8192


@pytest.mark.parametrize("mode, utilization, level", [
    (RunMode.GPU, 0.80, FitLevel.PERFECT), (RunMode.GPU, 0.85, FitLevel.GOOD),
    (RunMode.GPU, 0.95, FitLevel.MARGINAL), (RunMode.GPU, 1.01, FitLevel.TOO_TIGHT),
    (RunMode.MOE_OFFLOAD, 0.5, FitLevel.GOOD), (RunMode.CPU_OFFLOAD, 0.5, FitLevel.MARGINAL),
    (RunMode.CPU_ONLY, 0.70, FitLevel.GOOD), (RunMode.CPU_ONLY, 0.9, FitLevel.MARGINAL),
    (RunMode.CPU_ONLY, 0.96, FitLevel.TOO_TIGHT)])
def test_fit_thresholds(mode, utilization, level):
    assert fit_level(mode, utilization) is level


def test_two_core_cpu_box_recommends_models_that_are_usable_there(service_for):
    service = service_for(cpu_box(cores=2))
    body = service.models_body(parse_query({}, TOP))
    everything = service.models_body(parse_query({"include_too_tight": "false"}))["models"]
    assert any(m["estimated_tps"] < 2 for m in everything)  # slow models do fit in RAM ...
    assert len(body["models"]) == 5
    assert all(m["estimated_tps"] >= 6 for m in body["models"])  # ... but are not recommended
    assert all(m["run_mode"] == "cpu_only" for m in body["models"])


def test_big_gpu_ranks_larger_models_first(service_for):
    top = service_for(rtx4090_box()).models_body(parse_query({}, TOP))["models"]
    assert all(m["run_mode"] == "gpu" and m["fit_level"] in ("perfect", "good") for m in top)
    assert min(m["params_b"] for m in top) >= 7


def test_model_larger_than_vram_offloads_to_ram(catalog):
    dense = result(catalog, rtx4090_box(), "Qwen/Qwen2.5-72B-Instruct")
    assert dense.mode is RunMode.CPU_OFFLOAD and dense.level is FitLevel.MARGINAL
    assert dense.available_gib == 23.5 + 60.0
    moe = result(catalog, rtx4090_box(), "openai/gpt-oss-120b")
    assert moe.mode is RunMode.MOE_OFFLOAD and moe.quant == "MXFP4"
    assert moe.offloaded_gib > 50 and moe.required_gib < 23.5
    assert moe.total_gib == pytest.approx(moe.required_gib + moe.offloaded_gib)


def test_two_gpus_add_capacity_but_not_speed(catalog):
    one = result(catalog, rtx4090_box(), "Qwen/Qwen2.5-72B-Instruct")
    two = result(catalog, dual_3090_box(), "Qwen/Qwen2.5-72B-Instruct")
    assert two.mode is RunMode.GPU and two.available_gib == 47.0
    small_one = result(catalog, dual_3090_box(), "meta-llama/Llama-3.1-8B-Instruct")
    assert small_one.tps < 936 * 0.8 * GIB / (8.5 / 8 * 7e9)  # bounded by one card's bandwidth
    assert one.tps < two.tps


def test_apple_uses_mlx_and_the_metal_working_set(catalog):
    r = result(catalog, m2_max_box(), "meta-llama/Llama-3.1-8B-Instruct")
    assert r.runtime is Runtime.MLX and r.quant.startswith("mlx-")
    assert r.available_gib == 24.0  # the working-set limit, not the 32 GiB of RAM
    forced = result(catalog, m2_max_box(), "meta-llama/Llama-3.1-8B-Instruct",
                    force_runtime=Runtime.LLAMACPP)
    assert forced.runtime is Runtime.LLAMACPP and forced.quant in ("Q8_0", "Q6_K")


def test_runtime_that_cannot_run_here_is_too_tight_with_a_note(catalog):
    r = result(catalog, cpu_box(), "meta-llama/Llama-3.1-8B-Instruct", force_runtime=Runtime.VLLM)
    assert r.level is FitLevel.TOO_TIGHT and "vLLM needs a CUDA or ROCm GPU" in r.notes[0]
    mlx = result(catalog, rtx4090_box(), "meta-llama/Llama-3.1-8B-Instruct", quant="mlx-4bit")
    assert mlx.runtime is Runtime.MLX and mlx.level is FitLevel.TOO_TIGHT


def test_pinned_format_the_model_does_not_publish_is_too_tight(catalog):
    model = next(m for m in catalog if "AWQ" not in m.quants and m.category == "General")
    r = result(catalog, rtx4090_box(), model.name, quant="AWQ")
    assert r.level is FitLevel.TOO_TIGHT and r.runtime is Runtime.VLLM
    assert r.notes == ("No AWQ weights are published for this model.",)
    published = next(m for m in catalog if "AWQ" in m.quants and m.params_b < 10)
    assert result(catalog, rtx4090_box(), published.name, quant="AWQ").quant == "AWQ"


def test_pinned_quant_and_context(catalog):
    q4 = result(catalog, rtx4090_box(), "meta-llama/Llama-3.1-8B-Instruct", quant="Q4_K_M",
                max_context=32768)
    assert q4.quant == "Q4_K_M" and q4.effective_context == 32768
    q8 = result(catalog, rtx4090_box(), "meta-llama/Llama-3.1-8B-Instruct", max_context=32768)
    assert q4.disk_gib < q8.disk_gib
    # 32k context holds 4x the KV cache of 8k: 3 GiB more.
    at_8k = result(catalog, rtx4090_box(), "meta-llama/Llama-3.1-8B-Instruct", quant="Q4_K_M")
    assert q4.required_gib - at_8k.required_gib == pytest.approx(3.0 + 4 * 512 * 32 * 24576 / 8 / GIB)


def test_context_never_exceeds_the_native_window(catalog):
    r = result(catalog, rtx4090_box(), "meta-llama/Llama-3.1-8B-Instruct", max_context=1_000_000)
    assert r.effective_context == 131072
    assert r.usable_context <= 131072


def test_usable_context_is_the_largest_that_fits(catalog):
    r = result(catalog, cpu_box(ram=16, available=8.0), "meta-llama/Llama-3.1-8B-Instruct")
    assert r.mode is RunMode.CPU_ONLY and 0 < r.usable_context < 131072
    at = result(catalog, cpu_box(ram=16, available=8.0), "meta-llama/Llama-3.1-8B-Instruct",
                quant=r.quant, max_context=r.usable_context)
    beyond = result(catalog, cpu_box(ram=16, available=8.0), "meta-llama/Llama-3.1-8B-Instruct",
                    quant=r.quant, max_context=r.usable_context + 1)
    assert at.level is not FitLevel.TOO_TIGHT and beyond.level is FitLevel.TOO_TIGHT


def test_model_that_fits_nowhere(catalog):
    r = result(catalog, cpu_box(), "deepseek-ai/DeepSeek-V3")
    assert r.level is FitLevel.TOO_TIGHT and r.tps is None and r.usable_context == 0
    assert r.scores.total == 0 and r.notes[0].startswith("Needs ")
