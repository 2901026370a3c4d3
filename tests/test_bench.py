"""`llmfit bench`: a fake llama-bench prints recorded output; the result is kept per machine
and shows up as measured_tps and a local correction of the estimates."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from conftest import DATA
from gguf_builder import Shape, write_gguf
from llmfit.local_bench import BenchError, parse_bench_json

RECORDED = DATA / "llama-bench-qwen05-q4km.json"  # real llama-bench -o json output
MEASURED = 31.703844


def fake_llama_bench(tmp_path: Path, output: Path | None, exit_code: int = 0) -> Path:
    """An executable that records its arguments and prints `output`."""
    script = tmp_path / "llama-bench"
    args_file = tmp_path / "args.json"
    body = f"""#!{sys.executable}
import json, sys
json.dump(sys.argv[1:], open({str(args_file)!r}, "w"))
{"print(open(%r).read())" % str(output) if output else "print('error: failed to load model', file=sys.stderr)"}
sys.exit({exit_code})
"""
    script.write_text(body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.fixture
def run(cli):
    return cli(100)


def test_recorded_output_is_parsed():
    assert parse_bench_json(RECORDED.read_text()) == MEASURED
    with pytest.raises(BenchError, match="no JSON"):
        parse_bench_json("build: 0c1e570\n")
    with pytest.raises(BenchError, match="no token-generation"):
        parse_bench_json('[{"n_prompt": 512, "n_gen": 0, "avg_ts": 100.0}]')


def test_bench_records_the_speed_and_rows_then_show_it(tmp_path, run):
    model = tmp_path / "qwen05-Q4_K_M.gguf"
    write_gguf(model, Shape(layers=24, hidden=1024, ff=4096, heads=16, kv_heads=2, vocab=151936))
    fake = fake_llama_bench(tmp_path, RECORDED)
    result = run("bench", str(model), "--llama-bench", str(fake))
    assert result.exit_code == 0, result.output
    assert "measured 31.7 tok/s" in result.stdout
    args = json.loads((tmp_path / "args.json").read_text())
    assert args[:2] == ["-m", str(model)] and "-ngl" in args and args[args.index("-ngl") + 1] == "0"
    assert args[args.index("-n") + 1] == "128" and args[args.index("-p") + 1] == "0"
    stored = json.loads((tmp_path / "llmfit-home" / "benchmarks.json").read_text())["records"]
    assert [(r["model"], r["quant"], r["measured_tps"]) for r in stored] == [
        ("qwen05-Q4_K_M.gguf", "Q4_K_M", round(MEASURED, 3))]
    row = json.loads(run("info", str(model), "--json").stdout)["models"][0]
    assert row["measured_tps"] == 31.7
    assert row["estimate_basis"]["local_calibration"] is True
    # One record: the correction makes the estimate of that very file the measured figure.
    assert row["estimated_tps"] == 31.7
    top = json.loads(run("top", "--json").stdout)["models"]
    assert all(r["estimate_basis"]["local_calibration"] for r in top if r["run_mode"] == "cpu_only")


def test_missing_llama_bench_is_a_clear_error(tmp_path, run, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    model = tmp_path / "m.gguf"
    write_gguf(model, Shape())
    result = run("bench", str(model))
    assert result.exit_code == 2 and "llama-bench is not on PATH" in result.stderr


def test_failing_llama_bench_is_reported(tmp_path, run):
    model = tmp_path / "m.gguf"
    write_gguf(model, Shape())
    fake = fake_llama_bench(tmp_path, None, exit_code=1)
    result = run("bench", str(model), "--llama-bench", str(fake))
    assert result.exit_code == 1 and "llama-bench failed (exit 1)" in result.stderr
    assert not (tmp_path / "llmfit-home" / "benchmarks.json").exists()


def test_a_catalog_model_without_a_local_file_is_refused(run):
    result = run("bench", "Qwen/Qwen3-8B", "--llama-bench", sys.executable)
    assert result.exit_code == 2 and "no local GGUF" in result.stderr
    assert os.path.exists(sys.executable)
