"""Speed rows: confidence and range from the held-out calibration error, full-context speed,
the measured CPU bandwidth, and the peak memory of llama.cpp's CPU repacking."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import cpu_box, m2_max_box, rtx4090_box
from llmfit.confidence import speed_range
from llmfit.estimate import efficiency_table
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
