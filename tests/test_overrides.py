"""What-if overrides: size strings, --gpu names, and their effect on a SystemSpec."""

from __future__ import annotations

import re

import pytest

from llmfit.errors import UsageError
from llmfit.hardware import apply_overrides, parse_gpu_override, parse_size_gib
from llmfit.values import GpuDevice, SystemSpec

LAPTOP = SystemSpec(
    total_ram_gib=15.5,
    available_ram_gib=9.0,
    cpu_cores=8,
    cpu_name="Intel(R) Core(TM) i7-1165G7",
    notes=("NVIDIA: not detected (NVML unavailable: test)",),
)
MAC = SystemSpec(
    total_ram_gib=32.0,
    available_ram_gib=20.0,
    cpu_cores=12,
    cpu_name="Apple M2 Max",
    gpus=(GpuDevice("Apple M2 Max", 21.33, 21.33, "Metal", 1, True, 400),),
    unified_memory=True,
    os="macos",
    arch="arm64",
    ram_bandwidth_gbps=400,
)


@pytest.mark.parametrize(
    ("text", "gib"),
    [
        ("24G", 24.0),
        ("24GB", 24.0),
        ("24gib", 24.0),
        ("24 GiB", 24.0),
        ("24576M", 24.0),
        ("24576MB", 24.0),
        ("1.5T", 1536.0),
        ("512", 512.0),
        ("0.5", 0.5),
        ("1048576K", 1.0),
    ],
)
def test_parse_size_gib(text: str, gib: float) -> None:
    assert parse_size_gib(text) == gib


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "invalid size 'abc'"),
        ("-4G", "invalid size '-4G'"),
        ("0", "must be greater than 0"),
        ("0G", "must be greater than 0"),
        ("1e99T", "invalid size '1e99T'"),
        ("2000T", "larger than 1 PiB"),
        ("", "invalid size ''"),
        ("24X", "invalid size '24X'"),
        ("inf", "invalid size 'inf'"),
        ("nan", "invalid size 'nan'"),
        ("24 G B", "invalid size"),
    ],
)
def test_bad_sizes_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse_size_gib(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RTX 4090", [("NVIDIA GeForce RTX 4090", 1)]),
        ("2x RTX 4090", [("NVIDIA GeForce RTX 4090", 2)]),
        ("2 x RTX 4090", [("NVIDIA GeForce RTX 4090", 2)]),
        ("8xH100", [("NVIDIA H100 SXM", 8)]),
        ("RTX 3090 x2", [("NVIDIA GeForce RTX 3090", 2)]),
        ("Apple M2 Ultra", [("Apple M2 Ultra", 1)]),
        ("MI300X", [("AMD Instinct MI300X", 1)]),
        ("RTX 4090 + RTX 3090", [("NVIDIA GeForce RTX 4090", 1), ("NVIDIA GeForce RTX 3090", 1)]),
        ("RTX 4090+RTX 3090", [("NVIDIA GeForce RTX 4090", 1), ("NVIDIA GeForce RTX 3090", 1)]),
        # The APU's own name has a "+" that is not the separator.
        ("AMD Ryzen AI Max+ 395", [("AMD Radeon 8060S", 1)]),
        ("ryzen ai max+ 395 @ vulkan", [("AMD Radeon 8060S", 1)]),
    ],
)
def test_parse_gpu_override(text: str, expected: list[tuple[str, int]]) -> None:
    assert [(c.model.name, c.count) for c in parse_gpu_override(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RX 7900 XTX @ vulkan", [("AMD Radeon RX 7900 XTX", 1, "Vulkan")]),
        ("2x RX 7900 XTX@Vulkan", [("AMD Radeon RX 7900 XTX", 2, "Vulkan")]),
        ("RX 7900 XTX @ rocm", [("AMD Radeon RX 7900 XTX", 1, "ROCm")]),
        ("Arc B580 @vulkan + RTX 3090", [("Intel Arc B580", 1, "Vulkan"),
                                         ("NVIDIA GeForce RTX 3090", 1, "CUDA")]),
        ("RTX 4090 @ CUDA", [("NVIDIA GeForce RTX 4090", 1, "CUDA")]),
    ],
)
def test_a_gpu_term_can_name_the_backend(text: str, expected: list[tuple[str, int, str]]) -> None:
    assert [(c.model.name, c.count, c.runs_on) for c in parse_gpu_override(text)] == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RTX 4090 @ vulkan", "invalid backend 'vulkan' for NVIDIA GeForce RTX 4090: it is "
                              "estimated on CUDA only"),
        ("RX 7900 XTX @ cuda", "invalid backend 'cuda' for AMD Radeon RX 7900 XTX: use @rocm or "
                               "@vulkan"),
        ("RX 7900 XTX @", "invalid backend '' for AMD Radeon RX 7900 XTX"),
        ("Apple M2 Ultra @ vulkan", "it is estimated on Metal only"),
        ("RX 7900 XTX @ vulkan @ rocm", "invalid GPU 'RX 7900 XTX @ vulkan @ rocm': name one "
                                        "backend at most"),
    ],
)
def test_a_backend_the_card_cannot_be_estimated_on_is_a_usage_error(text: str,
                                                                     message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        parse_gpu_override(text)


def test_a_radeon_on_vulkan_is_estimated_with_the_vulkan_factors() -> None:
    rocm = apply_overrides(LAPTOP, gpus=["RX 7900 XTX"])
    vulkan = apply_overrides(LAPTOP, gpus=["RX 7900 XTX @ vulkan"])
    assert rocm.gpus[0].backend == "ROCm" and rocm.backend == "ROCm"
    assert vulkan.gpus[0].backend == "Vulkan" and vulkan.backend == "Vulkan"
    assert vulkan.notes[-1] == "GPUs overridden: 1x AMD Radeon RX 7900 XTX on Vulkan"
    assert (vulkan.gpus[0].vram_gib, vulkan.gpus[0].bandwidth_gbps) == (24.0, 960)
    strix = apply_overrides(LAPTOP, gpus=["Radeon 8060S @ vulkan"])
    assert strix.gpus[0].backend == "Vulkan" and strix.gpus[0].unified_memory


def test_unknown_gpu_suggests_close_names() -> None:
    with pytest.raises(UsageError, match=r"unknown GPU 'RTX 4900'; did you mean: .*RTX 4090"):
        parse_gpu_override("RTX 4900")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2x",
        "0x RTX 4090",
        "100x RTX 4090",
        "RTX 4090 +",
        "2x Apple M2 Ultra",
        "Apple M2 Ultra + RTX 4090",
        "Tesla M4",
    ],
)
def test_bad_gpu_overrides_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_gpu_override(text)


def test_gpu_override_replaces_detected_gpus_with_table_devices() -> None:
    spec = apply_overrides(LAPTOP, gpus=["2x RTX 3090"])
    assert spec.gpus == (GpuDevice("NVIDIA GeForce RTX 3090", 24.0, 24.0, "CUDA", 2, False, 936),)
    assert spec.notes[-1] == "GPUs overridden: 2x NVIDIA GeForce RTX 3090"
    assert spec.notes[0] == LAPTOP.notes[0]


def test_gpu_override_on_a_mac_drops_unified_memory() -> None:
    spec = apply_overrides(MAC, gpus=["RTX 4090"])
    assert spec.unified_memory is False and spec.ram_bandwidth_gbps is None
    assert spec.backend == "CUDA"


def test_apple_override_uses_ram_for_the_working_set_pool() -> None:
    spec = apply_overrides(LAPTOP, gpus=["Apple M2 Ultra"], ram_gib=192)
    assert spec.gpus == (GpuDevice("Apple M2 Ultra", 144.0, 144.0, "Metal", 1, True, 800),)
    assert spec.total_ram_gib == 192 and spec.unified_memory and spec.ram_bandwidth_gbps == 800
    assert (spec.os, spec.arch) == ("macos", "arm64")


def test_apple_override_without_ram_takes_the_chips_base_memory() -> None:
    spec = apply_overrides(LAPTOP, gpus=["Apple M2 Ultra"])
    assert spec.total_ram_gib == 64.0 and spec.available_ram_gib == 64.0
    assert spec.gpus[0].vram_gib == 48.0
    assert "RAM set to 64.0 GiB (base unified memory of Apple M2 Ultra)" in spec.notes


def test_ram_override_sets_total_and_available() -> None:
    spec = apply_overrides(LAPTOP, ram_gib=64)
    assert (spec.total_ram_gib, spec.available_ram_gib) == (64.0, 64.0)
    assert spec.notes[-1] == "RAM overridden to 64.0 GiB"


def test_ram_override_on_a_mac_resizes_the_metal_pool() -> None:
    spec = apply_overrides(MAC, ram_gib=64)
    assert spec.gpus[0].vram_gib == 48.0 and spec.gpus[0].bandwidth_gbps == 400


def test_memory_override_sets_vram_of_every_gpu() -> None:
    spec = apply_overrides(LAPTOP, gpus=["2x RTX 3090"], memory_gib=20)
    assert [(g.vram_gib, g.free_vram_gib, g.count) for g in spec.gpus] == [(20.0, 20.0, 2)]
    assert spec.notes[-1] == "GPU memory overridden to 20.0 GiB per GPU"


def test_memory_override_without_gpu_adds_a_generic_cuda_device() -> None:
    spec = apply_overrides(LAPTOP, memory_gib=12)
    assert spec.gpus == (GpuDevice("GPU (override)", 12.0, 12.0, "CUDA", 1, False, 448.0),)
    assert spec.notes[-1] == (
        "GPU memory overridden to 12.0 GiB per GPU; no GPU known, assuming a CUDA card "
        "with 448 GB/s"
    )


def test_memory_beats_ram_for_the_apple_pool() -> None:
    spec = apply_overrides(MAC, ram_gib=96, memory_gib=80)
    assert spec.gpus[0].vram_gib == 80.0 and spec.total_ram_gib == 96.0


def test_cpu_cores_override() -> None:
    spec = apply_overrides(LAPTOP, cpu_cores=32)
    assert spec.cpu_cores == 32 and spec.notes[-1] == "CPU cores overridden to 32"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cpu_cores": 0},
        {"cpu_cores": 5000},
        {"cpu_cores": 2.5},
        {"cpu_cores": True},
        {"ram_gib": 0},
        {"ram_gib": -8},
        {"ram_gib": float("nan")},
        {"memory_gib": float("inf")},
        {"gpus": ["no such card"]},
    ],
)
def test_out_of_bounds_overrides_are_usage_errors(kwargs: dict) -> None:
    with pytest.raises(UsageError):
        apply_overrides(LAPTOP, **kwargs)


def test_no_overrides_returns_the_spec_unchanged() -> None:
    assert apply_overrides(LAPTOP) == LAPTOP


def test_bound_errors_name_the_value() -> None:
    with pytest.raises(UsageError, match="invalid RAM size -8: must be greater than 0"):
        apply_overrides(LAPTOP, ram_gib=-8)
    with pytest.raises(UsageError, match="invalid CPU core count 0: use a whole number 1-4096"):
        apply_overrides(LAPTOP, cpu_cores=0)


def test_a_unified_memory_chip_stands_alone() -> None:
    with pytest.raises(UsageError, match="Radeon 8060S shares the machine's memory"):
        parse_gpu_override("Ryzen AI Max+ 395 + RTX 4090")
    with pytest.raises(UsageError, match="cannot be combined"):
        parse_gpu_override("2x Apple M2 Ultra")
