"""The CLI through Typer's CliRunner: commands, options before or after, errors, JSON output."""

from __future__ import annotations

import json
import re

import pytest

from llmfit import completions
from llmfit.cli import app


@pytest.fixture
def run(cli):
    return cli(80)


def test_top_table_fits_80_columns(run):
    result = run("top")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].startswith("top: 5 of ")
    assert all(len(line) <= 80 for line in lines)
    rows = [line for line in lines if re.search(r" CPU +(Good|Marginal) +[\d.]+ +~?[\d.]+ +\d+$", line)]
    assert len(rows) == 5


def test_top_json_is_the_api_envelope(run):
    body = json.loads(run("top", "--json").stdout)
    assert set(body) == {"node", "system", "total_models", "returned_models", "filters", "models"}
    assert body["node"]["name"] == "node-a"
    assert body["returned_models"] == len(body["models"]) == 5
    assert body["filters"]["limit"] == 5 and body["filters"]["include_too_tight"] is False
    assert body["system"]["cpu_cores"] == 4 and type(body["system"]["cpu_cores"]) is int


def test_system_json_is_the_api_body(run):
    body = json.loads(run("system", "--json").stdout)
    assert set(body) == {"node", "system"}
    assert body["system"]["total_ram_gb"] == 32.0 and body["system"]["has_gpu"] is False
    assert body["system"]["backend"] == "CPU (x86)"


def test_system_table(run):
    out = run("system").stdout
    assert "Test CPU (4 cores)" in out and "none detected" in out


@pytest.mark.parametrize("args", [
    ("--gpu", "RTX 4090", "--ram", "64G", "top", "--json"),
    ("top", "--gpu", "RTX 4090", "--ram", "64G", "--json"),
])
def test_hardware_overrides_before_or_after_the_command(run, args):
    body = json.loads(run(*args).stdout)
    assert body["system"]["gpu_name"] == "NVIDIA GeForce RTX 4090"
    assert body["system"]["total_ram_gb"] == 64.0
    assert body["system"]["gpus"][0]["memory_bandwidth_gbps"] == 1008.0
    assert all(m["run_mode"] == "gpu" for m in body["models"])


def test_search_filters_by_name_with_default_limit_20(run):
    body = json.loads(run("search", "qwen", "--json").stdout)
    assert body["filters"]["name"] == "qwen" and body["filters"]["limit"] == 20
    assert 0 < body["returned_models"] <= 20
    assert all("qwen" in m["name"].lower() for m in body["models"])


def test_models_filters_and_sort(run):
    body = json.loads(run("models", "--use-case", "coding", "--sort", "params",
                          "--no-include-too-tight", "--json").stdout)
    params = [m["params_b"] for m in body["models"]]
    assert params == sorted(params, reverse=True)
    assert {m["category"] for m in body["models"]} == {"Coding"}
    assert all(m["fit_level"] != "too_tight" for m in body["models"])


def test_max_context_and_quant(run, monkeypatch):
    body = json.loads(run("search", "Llama-3.1-8B-Instruct", "--quant", "q4_k_m",
                          "--max-context", "16384", "--json").stdout)
    row = next(m for m in body["models"] if m["name"] == "meta-llama/Llama-3.1-8B-Instruct")
    assert row["best_quant"] == "Q4_K_M" and row["effective_context_length"] == 16384
    monkeypatch.setenv("OLLAMA_CONTEXT_LENGTH", "4096")
    body = json.loads(run("top", "--json").stdout)
    assert {m["effective_context_length"] for m in body["models"]} <= {4096}
    assert body["filters"]["max_context"] == 4096


@pytest.mark.parametrize("args, message", [
    (("top", "--min-fit", "great"), "invalid min_fit value: use perfect|good|marginal|too_tight"),
    (("top", "--sort", "size"), "invalid sort value: use score|tps|params|mem|ctx|date|use_case"),
    (("models", "--limit", "-3"), "invalid limit value"),
    (("top", "--quant", "Q9"), "invalid quant value: use"),
    (("--ram", "lots", "top"), "lots"),
    (("top", "--gpu", "RTX 9999"), "RTX 9999"),
    (("--cpu-cores", "0", "top"), "--cpu-cores"),
    (("completion", "tcsh"), "invalid shell: use bash|zsh|fish"),
    (("serve", "--unix-socket", "/tmp/x.sock", "--port", "9"), "cannot be combined"),
])
def test_bad_values_are_usage_errors_without_traceback(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_catalog_overlay_is_a_clear_error(run, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"models": [{"name": "x/y"}]}')
    result = run("top", "--catalog", str(path))
    assert result.exit_code == 1
    assert "catalog row 'x/y': missing keys" in result.stderr


@pytest.mark.parametrize("shell", completions.SHELLS)
def test_checked_in_completions_are_current(shell):
    path = completions.Path(__file__).resolve().parents[1] / "completions" / completions.FILENAMES[shell]
    assert path.read_text() == completions.render(shell, app), "run: python scripts/write_completions.py"


def test_completion_lists_every_command_and_filter(run):
    script = run("completion", "bash").stdout
    for word in ("top", "models", "search", "system", "serve", "--min-fit", "--use-case",
                 "too_tight", "Q4_K_M", "--unix-socket"):
        assert word in script


def test_plain_llmfit_shows_top(run):
    plain, top = run(), run("top")
    assert plain.exit_code == 0 and plain.stdout == top.stdout
    with_gpu = run("--gpu", "RTX 4090")
    assert "for NVIDIA GeForce RTX 4090 (CUDA)" in with_gpu.stdout.splitlines()[0]


@pytest.mark.parametrize("width", [30, 40, 50, 64])
def test_narrow_terminals_drop_columns_but_never_cut_figures(cli, width):
    out = cli(width)("top").stdout.splitlines()
    assert all(len(line) <= width for line in out)
    rows = [line for line in out if re.search(r"\b(Good|Marginal|Perfect)\b", line)]
    assert len(rows) == 5
    full = json.loads(cli(width)("top", "--json").stdout)["models"]
    for line, row in zip(rows, full):
        tps = row["estimated_tps"]
        shown = f"{tps:.0f}" if tps >= 10 else f"{tps:.1f}"
        assert re.search(rf"~?{re.escape(shown)}\b", line), (line, shown)
        assert "…" not in line.split()[-1]  # the last figure is whole


@pytest.mark.parametrize(("argv", "command"), [
    ([], None), (["top"], "top"), (["--ram", "8G", "top", "-n", "3"], "top"),
    (["--gpu=RTX 4090", "plan", "x"], "plan"), (["--gpu", "RTX 4090", "fleet", "top"], "fleet"),
    (["--help"], "--help"), (["-h", "top"], "--help"), (["--max-context", "top"], None)])
def test_the_console_script_finds_the_command_word(argv, command):
    from llmfit.entry import _first_command

    assert _first_command(argv) == command


def test_a_core_listing_starts_without_the_other_command_groups(tmp_path):
    """`llmfit top` is the latency that matters: the plan, fleet and runtime groups stay unbuilt;
    any other command, and --help, sees them all."""
    import subprocess
    import sys

    env = {**__import__("os").environ, "LLMFIT_NO_MEASURE": "1", "COLUMNS": "100"}
    probe = ("import sys, runpy; sys.argv=['llmfit', *sys.argv[1:]]; "
             "import llmfit.entry as e\ntry:\n    e.main()\nexcept SystemExit:\n    pass\n"
             "print('LOADED', sorted(m for m in sys.modules if m.startswith('llmfit.cli_')))")
    lean = subprocess.run([sys.executable, "-c", probe, "top", "-n", "1", "--json"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert "LOADED ['llmfit.cli_app']" in lean.stdout, lean.stdout[-300:] + lean.stderr
    full = subprocess.run([sys.executable, "-c", probe, "--help"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert "plan" in full.stdout and "llmfit.cli_plan" in full.stdout.split("LOADED")[-1]
