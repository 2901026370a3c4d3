"""The device database: name matching (and its traps), PCI ids, table sanity."""

from __future__ import annotations

import pytest

from llmfit.gpus import (all_gpus, gpu_generation, lookup_gpu, lookup_gpu_by_pci, name_tokens,
                         suggest_gpu_names)


def _name(query: str, vram_gib: float | None = None) -> str | None:
    model = lookup_gpu(query, vram_gib)
    return model.name if model else None


@pytest.mark.parametrize(
    ("query", "expected", "bandwidth"),
    [
        ("NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4090", 1008),
        ("rtx 4090", "NVIDIA GeForce RTX 4090", 1008),
        ("4090", "NVIDIA GeForce RTX 4090", 1008),
        ("RTX4090", "NVIDIA GeForce RTX 4090", 1008),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA GeForce RTX 4090 Laptop GPU", 576),
        ("NVIDIA GeForce RTX 4080 Laptop GPU", "NVIDIA GeForce RTX 4080 Laptop GPU", 432),
        ("NVIDIA GeForce RTX 4070 Laptop GPU", "NVIDIA GeForce RTX 4070 Laptop GPU", 256),
        ("RTX 4060 Mobile", "NVIDIA GeForce RTX 4060 Laptop GPU", 256),
        ("NVIDIA GeForce RTX 4070 Ti SUPER", "NVIDIA GeForce RTX 4070 Ti SUPER", 672),
        ("NVIDIA GeForce RTX 4070 Ti", "NVIDIA GeForce RTX 4070 Ti", 504),
        ("NVIDIA GeForce RTX 4080 SUPER", "NVIDIA GeForce RTX 4080 SUPER", 736),
        ("NVIDIA GeForce RTX 3060 Ti", "NVIDIA GeForce RTX 3060 Ti", 448),
        ("NVIDIA GeForce RTX 5090", "NVIDIA GeForce RTX 5090", 1792),
        ("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM", 3350),
        ("NVIDIA H100 PCIe", "NVIDIA H100 PCIe", 2000),
        ("NVIDIA H100 NVL", "NVIDIA H100 NVL", 3900),
        ("NVIDIA H200", "NVIDIA H200", 4800),
        ("NVIDIA GH200 480GB", "NVIDIA GH200 96GB", 4000),
        ("NVIDIA B200", "NVIDIA B200", 8000),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB SXM", 2039),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA A100 40GB SXM", 1555),
        ("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe", 1935),
        ("NVIDIA A100-PCIE-40GB", "NVIDIA A100 40GB PCIe", 1555),
        ("Tesla V100-SXM2-32GB", "Tesla V100 32GB", 900),
        ("Tesla V100S-PCIE-32GB", "Tesla V100S 32GB", 1134),
        ("Tesla P100-PCIE-16GB", "Tesla P100 16GB", 732),
        ("Tesla T4", "Tesla T4", 320),
        ("T4", "Tesla T4", 320),
        ("Quadro T400", "NVIDIA T400", 80),
        ("Tesla M40", "Tesla M40", 288),
        ("Tesla M40 24GB", "Tesla M40 24GB", 288),
        ("Tesla P40", "Tesla P40", 347),
        ("NVIDIA A10G", "NVIDIA A10G", 600),
        ("NVIDIA A10", "NVIDIA A10", 600),
        ("NVIDIA L40S", "NVIDIA L40S", 864),
        ("NVIDIA L40", "NVIDIA L40", 864),
        ("NVIDIA RTX A6000", "NVIDIA RTX A6000", 768),
        ("NVIDIA RTX 6000 Ada Generation", "NVIDIA RTX 6000 Ada Generation", 960),
        ("AMD Radeon RX 7900 XTX", "AMD Radeon RX 7900 XTX", 960),
        ("Radeon RX 7900 XT", "AMD Radeon RX 7900 XT", 800),
        ("RX 7800 XT", "AMD Radeon RX 7800 XT", 624),
        ("AMD Radeon RX 9070 XT", "AMD Radeon RX 9070 XT", 640),
        ("AMD Radeon RX 6800", "AMD Radeon RX 6800", 512),
        ("AMD Instinct MI300X", "AMD Instinct MI300X", 5300),
        ("MI210", "AMD Instinct MI210", 1638),
        ("AMD Radeon PRO W7900", "AMD Radeon PRO W7900", 864),
        ("Intel(R) Arc(TM) A770 Graphics", "Intel Arc A770 16GB", 560),
        ("Intel Arc B580", "Intel Arc B580", 456),
        ("Apple M1", "Apple M1", 68),
        ("Apple M2 Ultra", "Apple M2 Ultra", 800),
        ("Apple M3 Pro", "Apple M3 Pro", 150),
        ("Apple M3 Max", "Apple M3 Max (30-core GPU)", 300),
        ("Apple M3 Max (40-core GPU)", "Apple M3 Max (40-core GPU)", 400),
        ("Apple M4", "Apple M4", 120),
        ("Apple M4 Pro", "Apple M4 Pro", 273),
        ("Apple M4 Max (40-core GPU)", "Apple M4 Max (40-core GPU)", 546),
    ],
)
def test_lookup_finds_the_right_device(query: str, expected: str, bandwidth: float) -> None:
    model = lookup_gpu(query)
    assert model is not None and model.name == expected
    assert model.bandwidth_gbps == bandwidth


@pytest.mark.parametrize(
    ("query", "not_this"),
    [
        ("Quadro T400", "Tesla T4"),
        ("Tesla M40", "Apple M4"),
        ("NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe"),
        ("NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA GeForce RTX 4090"),
        ("Apple M4 Max (32-core GPU)", "Apple M4"),
    ],
)
def test_traps(query: str, not_this: str) -> None:
    assert _name(query) != not_this


@pytest.mark.parametrize(
    "query",
    [
        "",
        "Apple M5",
        "Tesla M4",  # a Maxwell card we lack, not the Apple M4
        "GeForce GTX 1080",
        "NVIDIA GeForce RTX 3050 Ti Laptop GPU",  # a variant we lack must not borrow the 3050's
        "Quadro RTX 5000 with Max-Q Design",
        "RX 9070 GRE",
        "llvmpipe (LLVM 15.0.6, 256 bits)",
    ],
)
def test_unknown_or_unlisted_variants_give_none(query: str) -> None:
    assert lookup_gpu(query) is None


def test_vram_picks_between_rows_that_share_a_name() -> None:
    assert _name("NVIDIA GeForce RTX 4060 Ti", 15.99) == "NVIDIA GeForce RTX 4060 Ti 16GB"
    assert _name("NVIDIA GeForce RTX 4060 Ti", 7.99) == "NVIDIA GeForce RTX 4060 Ti 8GB"
    assert _name("NVIDIA GeForce RTX 4060 Ti") == "NVIDIA GeForce RTX 4060 Ti 8GB"
    assert _name("NVIDIA GeForce RTX 3060", 8.0) == "NVIDIA GeForce RTX 3060 8GB"
    assert getattr(lookup_gpu("NVIDIA GeForce RTX 3060 8GB"), "bandwidth_gbps", None) == 240
    assert _name("NVIDIA GeForce RTX 3060") == "NVIDIA GeForce RTX 3060"
    assert _name("Apple M3 Max", 48) == "Apple M3 Max (40-core GPU)"
    assert _name("Intel Arc A770", 7.8) == "Intel Arc A770 8GB"


def test_a_pci_name_listing_several_cards_is_resolved_by_vram() -> None:
    series = "Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    assert _name(series, 23.98) == "AMD Radeon RX 7900 XTX"
    assert _name(series, 19.98) == "AMD Radeon RX 7900 XT"


def test_lookup_by_pci_id() -> None:
    def name(pci: str, vram_gib: float | None = None) -> str | None:
        model = lookup_gpu_by_pci(pci, vram_gib)
        return model.name if model else None

    assert name("1002:744c", 23.98) == "AMD Radeon RX 7900 XTX"
    assert name("1002:744c", 16.0) == "AMD Radeon RX 7900 GRE"
    assert name("0x8086:0x56a0") == "Intel Arc A770 16GB"
    assert name("8086:56a1") == "Intel Arc A750"
    assert lookup_gpu_by_pci("10de:2684") is None


def test_name_tokens_drop_vendor_words_and_keep_whole_tokens() -> None:
    assert name_tokens("NVIDIA GeForce RTX 4090") == {"4090"}
    assert name_tokens("Intel(R) Arc(TM) A770 Graphics") == {"a770"}
    assert name_tokens("NVIDIA A100-SXM4-80GB") == {"a100", "sxm", "80gb"}
    assert name_tokens("Quadro T400") == {"t400"}


def test_suggestions_for_a_typo() -> None:
    assert "NVIDIA GeForce RTX 4090" in suggest_gpu_names("RTX 4900")
    assert "NVIDIA H100 SXM" in suggest_gpu_names("H1000")


def test_every_row_is_found_by_its_own_name() -> None:
    for model in all_gpus():
        assert lookup_gpu(model.name, model.vram_gib) == model, model.name


def test_table_rows_are_complete() -> None:
    models = all_gpus()
    assert len({m.name for m in models}) == len(models)
    assert all(m.bandwidth_gbps > 0 and m.vram_gib > 0 for m in models)
    assert {m.backend for m in models} == {"CUDA", "ROCm", "SYCL", "Metal"}
    unified_pcs = {"AMD Radeon 8060S", "AMD Radeon 8050S", "NVIDIA GB10"}  # Strix Halo, DGX Spark
    assert all(m.unified_memory == (m.backend == "Metal" or m.name in unified_pcs) for m in models)


def test_estimation_reference_bandwidths_are_in_the_table() -> None:
    reference = {
        "RTX 3060": 360,
        "RTX 3060 Ti": 448,
        "RTX 3070": 448,
        "RTX 3080": 760,
        "RTX 3090": 936,
        "RTX 3090 Ti": 1008,
        "RTX 4060": 272,
        "RTX 4060 Ti": 288,
        "RTX 4070": 504,
        "RTX 4070 Ti": 504,
        "RTX 4070 Ti Super": 672,
        "RTX 4080": 717,
        "RTX 4080 Super": 736,
        "RTX 4090": 1008,
        "RTX 5060": 448,
        "RTX 5060 Ti": 448,
        "RTX 5070": 672,
        "RTX 5070 Ti": 896,
        "RTX 5080": 960,
        "RTX 5090": 1792,
        "T4": 320,
        "L4": 300,
        "A10": 600,
        "L40S": 864,
        "A100 40GB": 1555,
        "A100 80GB PCIe": 1935,
        "A100 80GB SXM": 2039,
        "H100 PCIe": 2000,
        "H100 SXM": 3350,
        "H100 NVL": 3900,
        "H200": 4800,
        "RTX 6000 Ada": 960,
        "Tesla P40": 347,
        "V100": 900,
        "RX 7900 XTX": 960,
        "RX 7900 XT": 800,
        "RX 7800 XT": 624,
        "MI300X": 5300,
        "Apple M1": 68,
        "M1 Pro": 200,
        "M1 Max": 400,
        "M1 Ultra": 800,
        "M2": 100,
        "M2 Pro": 200,
        "M2 Max": 400,
        "M2 Ultra": 800,
        "M3": 100,
        "M3 Pro": 150,
        "M3 Max 30-core": 300,
        "M3 Max 40-core": 400,
        "M3 Ultra": 819,
        "M4": 120,
        "M4 Pro": 273,
        "M4 Max 32-core": 410,
        "M4 Max 40-core": 546,
    }
    found = {name: getattr(lookup_gpu(name), "bandwidth_gbps", None) for name in reference}
    assert found == reference


@pytest.mark.parametrize(
    ("name", "generation"),
    [
        ("AMD Radeon RX 7900 XTX", "rdna3"),
        ("AMD Radeon PRO W7900", "rdna3"),
        ("AMD Radeon RX 9070 XT", "rdna4"),
        ("AMD Radeon RX 6800 XT", "rdna2"),
        ("AMD Radeon 8060S", "rdna3.5-apu"),
        ("AMD Instinct MI300X", "cdna3"),
        ("NVIDIA GeForce RTX 5090", "blackwell"),
        ("NVIDIA RTX 5000 Ada Generation", "ada"),  # not Blackwell for its "5000"
        ("Quadro RTX 5000", "turing"),
        ("NVIDIA L40S", "ada"),
        ("NVIDIA A10G", "ampere"),
        ("NVIDIA GB10", "gb10"),
        ("Intel Arc B580", "battlemage"),
        ("Apple M2 Ultra", None),  # Apple tiers differ more than their generations
    ],
)
def test_gpu_generation(name: str, generation: str | None) -> None:
    assert gpu_generation(name) == generation


def test_every_non_apple_card_has_a_generation() -> None:
    missing = [g.name for g in all_gpus() if g.backend != "Metal" and gpu_generation(g.name) is None]
    assert missing == []
