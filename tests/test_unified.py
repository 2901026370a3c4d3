"""Unified-memory PCs: AMD Strix Halo (carve-out + GTT) and NVIDIA GB10 (system RAM)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from llmfit.hardware import detect, detect_system
from llmfit.hardware.overrides import apply_overrides
from llmfit.hardware.unified import simulated_pool_gib, strix_halo_pool_gib, with_unified_pcs
from llmfit.values import GpuDevice, SystemSpec

FIXTURES = Path(__file__).parent / "fixtures" / "hardware"
GIB = 2**30


def test_strix_halo_pool_is_carve_out_plus_gtt():
    assert strix_halo_pool_gib(0.5, 62.0, 128.0) == 62.5
    assert strix_halo_pool_gib(0.5, None, 128.0) == 64.5  # kernel default GTT: half the RAM
    assert strix_halo_pool_gib(0.5, None, 4.0) == round(0.5 + 3e9 / GIB, 2)  # the 3 GB floor


def test_strix_halo_is_detected_from_sysfs_with_its_gtt(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(detect, "os_name", lambda: "linux")
    spec = detect_system(sys_root=FIXTURES / "sysfs-amd-strix-halo", proc_root=tmp_path)
    (gpu,) = spec.gpus
    assert gpu.name == "AMD Radeon 8060S" and gpu.unified_memory and spec.unified_memory
    assert gpu.vram_gib == 0.5 + 62.0  # 512 MiB carve-out + 62 GiB GTT
    assert gpu.free_vram_gib == round(62.5 - (128 + 1024) / 1024, 2)
    assert gpu.bandwidth_gbps == 256
    assert any("carve-out" in n and "GTT" in n for n in spec.notes)


def test_gb10_without_a_memory_reading_uses_the_available_ram():
    gb10 = GpuDevice("NVIDIA GB10", None, None, "CUDA", 1, False, 273)
    (gpu,), notes = with_unified_pcs([gb10], 110.5)
    assert (gpu.vram_gib, gpu.free_vram_gib, gpu.unified_memory) == (110.5, 110.5, True)
    assert "available RAM" in notes[0]
    other = GpuDevice("NVIDIA GeForce RTX 4090", 24.0, 23.0, "CUDA", 1, False, 1008)
    assert with_unified_pcs([other], 110.5) == ([other], [])


def _box() -> SystemSpec:
    return SystemSpec(total_ram_gib=32.0, available_ram_gib=30.0, cpu_cores=8, cpu_name="x")


@pytest.mark.parametrize("name, ram, pool", [
    ("DGX Spark", None, round(128 * 0.95, 2)),
    ("Strix Halo", None, 64.5),
    ("8060S", 96.0, strix_halo_pool_gib(0.5, None, 96.0)),
])
def test_simulated_unified_pcs_get_the_pool_the_runtime_can_use(name, ram, pool):
    spec = apply_overrides(_box(), ram_gib=ram, gpus=(name,))
    (gpu,) = spec.gpus
    assert spec.unified_memory and gpu.unified_memory and gpu.vram_gib == pool
    assert spec.os == "linux"  # not turned into a Mac
    assert simulated_pool_gib(gpu.name, gpu.backend, "linux", spec.total_ram_gib)[0] == pool


def test_windows_strix_halo_uses_the_carve_out():
    assert simulated_pool_gib("AMD Radeon 8060S", "ROCm", "windows", 128.0)[0] == 96.0


def test_a_model_too_big_for_vram_fits_the_unified_pool(service_for):
    from llmfit.query import parse_query

    spec = apply_overrides(_box(), ram_gib=128.0, gpus=("Strix Halo",))
    body = service_for(spec).models_body(parse_query({"search": "Llama-3.3-70B"}))
    row = body["models"][0]
    assert row["run_mode"] == "gpu" and row["fit_level"] in ("good", "perfect")
