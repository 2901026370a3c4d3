"""The speed model's data: tables are what scripts/calibrate.py fits, rows are sourced, and the
held-out accuracy per group is what the README states."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import DATA
from llmfit.calibration import measurements, read_rows
from llmfit.estimate import _read_data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import calibrate  # noqa: E402


@pytest.fixture(scope="module")
def generated():
    return calibrate.tables()


@pytest.mark.parametrize("name", ["quants.csv", "efficiency.csv", "kernels.csv", "devices.csv",
                                  "generations.csv",
                                  "accuracy.csv", "prefill.csv"])
def test_shipped_tables_are_what_calibrate_produces(generated, name):
    rows, _ = generated[name]
    fields = list(rows[0]) if rows else None
    expected = [{k: str(v) for k, v in r.items()} for r in rows]
    shipped = _read_data(name)
    assert [dict((k, r[k]) for k in (fields or r)) for r in shipped] == expected, (
        f"llmfit/data/{name} is stale: run python scripts/calibrate.py --write")


def test_every_published_row_names_its_source():
    for row in read_rows(DATA / "speed-published.csv"):
        assert row["source"].startswith("https://"), row


def test_rows_left_out_say_why():
    rows, skipped = measurements()
    assert len(rows) >= 130
    reasons = {s.split(": ", 2)[-1] for s in skipped}
    assert all(reason for reason in reasons)


def test_a_superseded_run_gives_way_to_the_later_one():
    """The RTX 4090 gpt-oss-20b run of PR 16649 is replaced by the same author's later master
    run (PR 16834); the older one is listed with the reason, the later one is fitted."""
    rows, skipped = measurements()
    old = [s for s in skipped if "RTX 4090 gpt-oss-20b MXFP4" in s]
    assert len(old) == 1 and "superseded" in old[0] and "PR 16834" in old[0]
    used = [m.tps for m in rows if m.model.name == "openai/gpt-oss-20b"
            and m.device_key == "NVIDIA GeForce RTX 4090" and m.group == "cuda"]
    assert used == [186.10]


def test_every_class_and_group_has_measurements():
    rows, _ = measurements()
    assert {m.device_class for m in rows} == {"cpu", "cpu_spec", "apple", "gpu", "datacenter",
                                              "pascal"}
    assert {m.group for m in rows} == {"cpu", "metal", "cuda", "rocm", "vulkan"}
    for group in ("CPU", "NVIDIA", "AMD", "Apple", "MoE"):
        assert sum(group in m.groups for m in rows) >= 10, group


def test_own_cpu_measurements_cover_the_issue():
    """At least 5 models from 0.5B to 8B incl. an MoE, each at Q4_K_M and Q8_0."""
    rows = read_rows(DATA / "cpu-measured.csv")
    pairs = {(r["model"], r["quant"]) for r in rows if r["depth"] == "0"}
    both = {m for m, _ in pairs if all((m, q) in pairs for q in ("Q4_K_M", "Q8_0"))}
    assert len(both) >= 5
    assert "allenai/OLMoE-1B-7B-0924-Instruct" in both
    assert all(r["build"] and r["flags"].startswith("llama-bench") and float(r["memory_bandwidth_gbps"]) > 0
               for r in rows)


def test_readme_states_the_accuracy_the_tables_hold():
    readme = (ROOT / "README.md").read_text()
    for row in _read_data("accuracy.csv"):
        line = (f"| {row['group']} | {row['rows']} | {float(row['in_median_pct']):.1f}% / "
                f"{float(row['in_max_pct']):.1f}% | {float(row['loo_median_pct']):.1f}% / "
                f"{float(row['loo_max_pct']):.1f}% |")
        assert line in readme, f"README accuracy table is stale: {line}"


def test_a_rows_depth_is_its_start_plus_half_the_generated_tokens():
    """tg128 by default; a test the notes name (tg400, tg512 ...) counts with its own length."""
    from llmfit.calibration import _depth
    assert _depth({"depth": "0", "notes": "llama-bench defaults"}) == 64
    assert _depth({"depth": "0", "notes": "tg400 (llama-bench -n 400)"}) == 200
    assert _depth({"depth": "8192", "notes": "n_ubatch 1 pp512, tg512-equivalent"}) == 8448
    assert _depth({"depth": "", "notes": "tg32 @ d4096"}) == 16
    rows, _ = measurements()
    linux = [m for m in rows if m.tps == 376.9 and m.model.name == "Qwen/Qwen3-30B-A3B"]
    assert [m.depth for m in linux] == [200]


def test_an_moe_layer_costs_one_multiple_of_a_layer_per_backend():
    """t_moe = k_moe x t_layer: within a backend group every device class has the same k_moe, so
    an MoE layer costs a 2-core VM (cpu) more time than a many-core published machine (cpu_spec)."""
    ratios: dict[str, list[float]] = {}
    table = {(r["device_class"], r["backend_group"]): r for r in _read_data("efficiency.csv")}
    for r in table.values():
        ratios.setdefault(r["backend_group"], []).append(
            float(r["moe_layer_ms"]) / float(r["t_layer_ms"]))
    for group, ks in ratios.items():
        assert max(ks) - min(ks) <= 0.01 * max(ks), (group, ks)
    assert (float(table[("cpu", "cpu")]["moe_layer_ms"])
            > 3 * float(table[("cpu_spec", "cpu")]["moe_layer_ms"]) > 0)


def _overhead_script():
    import importlib.util
    spec = importlib.util.spec_from_file_location("overhead", ROOT / "benchmarks" / "overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_overhead_breakdown_reads_builds_and_dates(capsys):
    overhead = _overhead_script()
    assert overhead.build_and_date("llama.cpp b9976 (e3546c794) llama-bench; re-sweep 2026-07-12") \
        == ("9976", "2026-07-12")
    assert overhead.build_and_date("build b76429a69 (8895); +-0.21") == ("b76429a69", "")
    assert overhead.build_and_date("am17an, 'On a 4090'; 2025-10-31") == ("", "2025-10-31")
    assert overhead.main(["--group", "cuda", "--moe", "--device", "5090"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert lines and all("5090" in line for line in lines)
    # The native-Linux September run: 1 / 376.9 tok/s = 2.65 ms a token; build and date.
    sept = next(line for line in lines if " 376.9 " in line).split()
    assert sept[-7:-5] == ["376.9", "2.65"] and sept[-2:] == ["10809", "2026-09-12"]
