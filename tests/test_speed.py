"""Speed rows: confidence and range from the held-out calibration error, full-context speed,
the measured CPU bandwidth, and the peak memory of llama.cpp's CPU repacking."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import cpu_box, m2_max_box, rtx4090_box
from llmfit.confidence import speed_range
from llmfit.estimate import efficiency_table
from llmfit.values import GpuDevice, SystemSpec
from llmfit.query import parse_query


def rows(service_for, system, **params):
    body = service_for(system).models_body(parse_query({k: str(v) for k, v in params.items()}))
    return {r["name"]: r for r in body["models"]}


def test_range_brackets_the_estimate_by_the_class_worst_held_out_error():
    eff = efficiency_table()["apple"]
    r = speed_range(100.0, eff, moe=False, offloaded=False, bandwidth_measured=True)
    assert r.low == pytest.approx(100 / (1 + eff.loo_max))
    assert r.high == pytest.approx(100 / (1 - eff.loo_max))
    assert r.confidence == ("high" if eff.loo_median <= 0.10 and eff.loo_max <= 0.30 else "medium")


def test_moe_ranges_use_their_backends_moe_rows_where_there_are_enough():
    from llmfit.confidence import MIN_MOE_ROWS, group_accuracy
    from llmfit.estimate import efficiency_for

    every = group_accuracy()["MoE"]
    for cls, backend in (("gpu", "Vulkan"), ("gpu", "CUDA"), ("apple", "Metal"), ("gpu", "ROCm")):
        eff = efficiency_for(cls, backend)
        own = eff.moe_loo_max if eff.moe_rows >= MIN_MOE_ROWS else max(eff.moe_loo_max, every[2])
        worst = max(eff.loo_max, own)
        r = speed_range(100.0, eff, moe=True, offloaded=False, bandwidth_measured=True)
        assert r.low == pytest.approx(100 / (1 + worst)), (cls, backend)
        assert r.high == pytest.approx(100 / (1 - min(worst, 0.6))), (cls, backend)
    assert efficiency_for("gpu", "Vulkan").moe_rows >= MIN_MOE_ROWS  # its own MoE rows
    assert efficiency_for("apple", "Metal").moe_rows < MIN_MOE_ROWS  # falls back to all MoE rows


def test_offload_and_unmeasured_cpu_bandwidth_are_low_confidence():
    gpu = efficiency_table()["gpu"]
    assert speed_range(50.0, gpu, moe=False, offloaded=True, bandwidth_measured=True).confidence == "low"
    cpu = efficiency_table()["cpu_spec"]
    r = speed_range(5.0, cpu, moe=False, offloaded=False, bandwidth_measured=False)
    assert r.confidence == "low" and r.low < 5.0 < r.high
    assert speed_range(None, gpu, False, False, True).low is None


def test_rows_carry_range_confidence_and_full_context_speed(service_for):
    found = rows(service_for, rtx4090_box(), search="Llama-3.1-8B-Instruct", max_context=32768)
    row = found["meta-llama/Llama-3.1-8B-Instruct"]
    assert row["estimated_tps_low"] < row["estimated_tps"] < row["estimated_tps_high"]
    assert row["estimate_confidence"] in ("high", "medium")
    assert row["estimated_tps_full_context"] < row["estimated_tps"]  # 32K tokens of KV to read


def test_cpu_uses_the_measured_bandwidth_and_says_so(service_for):
    measured = replace(cpu_box(), cpu_bandwidth_gbps=32.0)
    fast = replace(cpu_box(), cpu_bandwidth_gbps=64.0)
    a = rows(service_for, measured, search="Llama-3.2-1B-Instruct")["meta-llama/Llama-3.2-1B-Instruct"]
    b = rows(service_for, fast, search="Llama-3.2-1B-Instruct")["meta-llama/Llama-3.2-1B-Instruct"]
    assert a["estimate_basis"]["ddr_bandwidth_gbps"] == 32.0
    assert b["estimated_tps"] > a["estimated_tps"]
    guessed = rows(service_for, cpu_box(), search="Llama-3.2-1B-Instruct")["meta-llama/Llama-3.2-1B-Instruct"]
    assert guessed["estimate_confidence"] == "low"


def test_x86_cpu_rows_report_the_repack_peak(service_for):
    row = rows(service_for, replace(cpu_box(), cpu_bandwidth_gbps=32.0), search="Llama-3.1-8B-Instruct",
               quant="Q4_K_M")["meta-llama/Llama-3.1-8B-Instruct"]
    assert row["run_mode"] == "cpu_only"
    # data/repack.csv: x86 repacks 68% of a Q4_K_M file's bytes (measured median); the row's
    # figures are rounded to 2 decimals, hence the tolerance of one rounding step each.
    expected = row["total_memory_gb"] + 0.68 * row["disk_size_gb"]
    assert abs(row["peak_load_memory_gb"] - expected) <= 0.011
    assert any("repacks" in n and "--no-repack" in n for n in row["notes"])
    q8 = rows(service_for, replace(cpu_box(), cpu_bandwidth_gbps=32.0), search="Llama-3.1-8B-Instruct",
              quant="Q8_0")["meta-llama/Llama-3.1-8B-Instruct"]
    assert q8["peak_load_memory_gb"] == q8["total_memory_gb"]  # Q8_0 is not repacked on x86


def test_apple_gpu_rows_have_no_repack_peak(service_for):
    row = rows(service_for, m2_max_box(), search="Llama-3.1-8B-Instruct")["meta-llama/Llama-3.1-8B-Instruct"]
    assert row["run_mode"] == "gpu" and row["peak_load_memory_gb"] == row["total_memory_gb"]


def strix_halo_box(backend: str) -> SystemSpec:
    """A Ryzen AI Max+ 395 with 96 GiB of its 128 given to the GPU, on one llama.cpp backend."""
    gpu = GpuDevice("AMD Radeon 8060S", 96.0, 95.0, backend, 1, True, 256.0)
    return SystemSpec(total_ram_gib=128.0, available_ram_gib=30.0, cpu_cores=16,
                      cpu_name="AMD Ryzen AI Max+ 395", gpus=(gpu,), unified_memory=True)


def test_amd_speeds_follow_the_backend_llamacpp_runs_on(service_for):
    """The same Radeon 8060S decodes Qwen3-30B-A3B Q4_K_M at 78.0 tok/s on Vulkan and 56.55 on
    ROCm (tests/data/speed-published.csv, lhl/strix-halo-testing and tosukui.xyz): each backend's
    row brackets its own measurement with its range, and the dense Qwen3-32B barely differs
    between the two."""
    name, tps = "Qwen/Qwen3-30B-A3B", {}
    for backend, measured in (("Vulkan", 78.0), ("ROCm", 56.55)):
        row = rows(service_for, strix_halo_box(backend), search=name, quant="Q4_K_M")[name]
        assert row["estimated_tps_low"] <= measured <= row["estimated_tps_high"], (backend, row)
        tps[backend] = row["estimated_tps"]
    assert tps["Vulkan"] > 1.2 * tps["ROCm"]
    dense = "Qwen/Qwen3-32B"
    d = {b: rows(service_for, strix_halo_box(b), search=dense, quant="Q4_K_M")[dense]["estimated_tps"]
         for b in ("Vulkan", "ROCm")}
    assert abs(d["Vulkan"] / d["ROCm"] - 1) < 0.1


def test_each_gpu_backend_reads_its_own_calibration_row():
    from llmfit.estimate import _read_data, efficiency_for

    table = {(r["device_class"], r["backend_group"]): r for r in _read_data("efficiency.csv")}
    for backend, group in (("CUDA", "cuda"), ("ROCm", "rocm"), ("Vulkan", "vulkan"),
                           ("SYCL", "cuda")):
        eff = efficiency_for("gpu", backend)
        assert eff.group == group
        assert eff.moe_layer_ms == float(table["gpu", group]["moe_layer_ms"])
        assert eff.loo_max == float(table["gpu", group]["loo_max_pct"]) / 100
    assert efficiency_for("apple", "Metal").group == "metal"
    assert efficiency_for("cpu", None).group == "cpu"


def test_pascal_cards_stream_less_of_their_bandwidth_than_newer_ones(service_for):
    """Tesla P40 (347 GB/s) and RTX 3060 (360 GB/s) decode Llama-2-7B Q4_0 at 54.74 and 75.57
    tok/s (tests/data/calibration.csv): each estimate lies within its class's worst held-out
    error of its measurement, and the P40 one is the slower by far."""
    from llmfit.estimate import device_class, efficiency_for

    name, got = "meta-llama/Llama-2-7b-chat-hf", {}
    for card, bandwidth, measured in (("Tesla P40", 347.0, 54.74), ("NVIDIA GeForce RTX 3060", 360.0, 75.57)):
        gpu = GpuDevice(card, 24.0, 23.0, "CUDA", 1, False, bandwidth)
        box = SystemSpec(total_ram_gib=64.0, available_ram_gib=60.0, cpu_cores=8,
                         cpu_name="Test CPU", gpus=(gpu,))
        got[card] = rows(service_for, box, search=name, quant="Q4_0")[name]["estimated_tps"]
        worst = efficiency_for(device_class(card, "CUDA"), "CUDA").loo_max
        assert measured / (1 + worst) <= got[card] <= measured / (1 - worst), (card, got)
    assert device_class("Tesla P40", "CUDA") == "pascal"
    assert got["Tesla P40"] < 0.8 * got["NVIDIA GeForce RTX 3060"]


def test_moe_layers_cost_a_fixed_time_that_weighs_most_on_fast_memory(service_for, catalog):
    """48 MoE layers of Qwen3-30B-A3B add 48 x t_moe per token on every CUDA card; that is a
    large share of an RTX 5090's token time and a small one of a DGX Spark's."""
    from llmfit.estimate import efficiency_for, moe_overhead_seconds

    eff = efficiency_for("gpu", "CUDA")
    assert eff.moe_layer_ms > 0
    moe = next(m for m in catalog if m.name == "Qwen/Qwen3-30B-A3B")
    dense = next(m for m in catalog if m.name == "Qwen/Qwen3-32B")
    assert moe.arch.moe_layers == 48
    assert moe_overhead_seconds(moe.arch, eff) == pytest.approx(48 * eff.moe_layer_ms / 1e3)
    assert moe_overhead_seconds(dense.arch, eff) == 0.0
    share = {}
    for card, bandwidth in (("NVIDIA GeForce RTX 5090", 1792.0), ("NVIDIA GB10", 273.0)):
        box = SystemSpec(total_ram_gib=128.0, available_ram_gib=100.0, cpu_cores=16, cpu_name="CPU",
                         gpus=(GpuDevice(card, 32.0, 31.0, "CUDA", 1, False, bandwidth),))
        tps = rows(service_for, box, search=moe.name, quant="Q4_K_M")[moe.name]["estimated_tps"]
        share[card] = moe_overhead_seconds(moe.arch, efficiency_for("gpu", "CUDA")) * tps
    assert share["NVIDIA GeForce RTX 5090"] > 2 * share["NVIDIA GB10"]


def test_a_card_without_rows_borrows_its_generations_factor():
    # No RX 7800 XT rows: on ROCm it takes the RDNA3 cards' K-quant factor (RX 7900 XTX and
    # PRO W7900 rows), not the backend's, which Strix Halo rows also set.
    from llmfit.estimate import (device_factor_table, efficiency_for, for_device,
                                 generation_factor_table)

    base = efficiency_for("gpu", "ROCm")
    rdna3 = dict(generation_factor_table()[("rdna3", "gpu", "rocm")])
    card = for_device(base, "AMD Radeon RX 7800 XT")
    assert card.kernel("Q4_K_M") == pytest.approx(base.kernel("Q4_K_M") * rdna3["kquant"])
    assert rdna3["kquant"] < 0.9
    # A card's own factors win over its generation's; Apple chips have no generation.
    own = dict(device_factor_table()[("AMD Radeon 8060S", "rocm")])
    strix = dict(for_device(base, "AMD Radeon 8060S").device)
    assert own and all(strix[family] == factor for family, factor in own.items())
    assert dict(for_device(efficiency_for("apple", "Metal"), "Apple M2").device) == dict(
        device_factor_table()[("Apple M2", "metal")])


def test_cuda_moe_rows_say_that_the_llamacpp_build_moves_their_speed(service_for):
    from llmfit.fit import CUDA_MOE_NOTE

    found = rows(service_for, rtx4090_box(), search="Qwen3")
    moe, dense = found["Qwen/Qwen3-30B-A3B"], found["Qwen/Qwen3-8B"]
    assert moe["run_mode"] == "gpu" and CUDA_MOE_NOTE in moe["notes"]
    assert CUDA_MOE_NOTE not in dense["notes"]
    apple = rows(service_for, m2_max_box(), search="Qwen3-30B-A3B")["Qwen/Qwen3-30B-A3B"]
    assert apple["run_mode"] == "gpu" and CUDA_MOE_NOTE not in apple["notes"]
