"""Any Hub repo: `llmfit info/add/remove/update` through the real huggingface_hub client against
a small Hub on loopback (tests/hub_server.py) answering with recorded responses."""

from __future__ import annotations

import json

import pytest

from conftest import cpu_box
from hub_server import FakeHub
from llmfit.estimate import GIB


@pytest.fixture
def hub(monkeypatch):
    with FakeHub() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        yield server


@pytest.fixture
def run(cli):
    return cli(100)


def info_json(run, *args):
    result = run("info", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_info_of_a_hub_repo_reads_config_and_safetensors_count(hub, run):
    body = info_json(run, "unsloth/Llama-3.2-1B-Instruct")
    assert body["returned_models"] == 1 and body["filters"]["name"] == "unsloth/Llama-3.2-1B-Instruct"
    row = body["models"][0]
    assert row["name"] == "unsloth/Llama-3.2-1B-Instruct"
    assert row["params_b"] == 1.236  # safetensors total 1,235,814,400
    assert row["context_length"] == 131072  # max_position_embeddings, not x32 RoPE
    assert row["release_date"] == "2024-09-25" and row["license"] == "llama3.2"
    # KV cache at 8,192 tokens: 2 (K,V) x 8 heads x 64 x 16 layers x 8192 x 2 bytes = 0.25 GiB
    assert row["memory_breakdown"]["kv_cache_gb"] == 0.25
    assert row["weights_exact"] is False
    assert any("/api/models/unsloth/Llama-3.2-1B-Instruct" in r for r in hub.requests)
    assert any(r.endswith("/resolve/main/config.json") for r in hub.requests)


def test_second_info_is_answered_from_the_cache_without_the_network(hub, run):
    first = info_json(run, "unsloth/Llama-3.2-1B-Instruct")
    served = len(hub.requests)
    again = info_json(run, "unsloth/Llama-3.2-1B-Instruct")
    assert len(hub.requests) == served
    assert again["models"] == first["models"]
    info_json(run, "unsloth/Llama-3.2-1B-Instruct", "--refresh")
    assert len(hub.requests) > served


def test_all_quants_gives_one_row_per_quantization(hub, run):
    body = info_json(run, "unsloth/Llama-3.2-1B-Instruct", "--all-quants")
    quants = [r["best_quant"] for r in body["models"]]
    assert quants == ["BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K"]
    weights = [r["memory_breakdown"]["weights_gb"] for r in body["models"]]
    assert weights == sorted(weights, reverse=True)
    assert body["total_models"] == body["returned_models"] == 7


def test_moe_and_mla_architectures_are_derived(hub, run):
    moe = info_json(run, "Qwen/Qwen1.5-MoE-A2.7B-Chat")["models"][0]
    assert moe["is_moe"] and moe["params_b"] == 14.316
    # Active = attention + 4 routed + the shared expert + the output matrix (the card's 2.7B also
    # counts the input embedding, of which a token reads one row): 2.38B.
    assert moe["parameter_count"] == "14.3B (2.4B active)"
    mla = info_json(run, "deepseek-ai/DeepSeek-V2-Lite")["models"][0]
    # MLA caches (kv_lora_rank + rope) = 576 elements per layer-token: 27 x 576 x 8192 x 2 bytes
    assert mla["memory_breakdown"]["kv_cache_gb"] == round(27 * 576 * 8192 * 2 / GIB, 2)


def test_hybrid_linear_attention_keeps_kv_only_in_attention_layers(hub, run):
    row = info_json(run, "hf:Qwen/Qwen3-Next-80B-A3B-Instruct")["models"][0]
    # 12 of 48 layers are full attention: 2 x 2 heads x 256 x 12 x 8192 x 2 bytes = 0.19 GiB
    assert row["memory_breakdown"]["kv_cache_gb"] == round(2 * 2 * 256 * 12 * 8192 * 2 / GIB, 2)


def test_unknown_model_type_is_sized_and_says_it_is_approximate(hub, run):
    row = info_json(run, "acme/mystery-7b")["models"][0]
    assert row["context_length"] == 4096
    assert any("'mystery' is not one llmfit knows" in n for n in row["notes"])
    assert any("recomputed from the architecture" in n for n in row["notes"])
    assert 6.0 < row["params_b"] < 7.0  # 32 x (4 x 4096^2 + 3 x 4096 x 11008) + 2 x 32000 x 4096


def test_gated_repo_and_missing_repo_get_clear_messages(hub, run):
    gated = run("info", "hf:meta-llama/Llama-Guard-4-12B")
    assert gated.exit_code == 2
    assert "gated repo" in gated.stderr and "HF_TOKEN" in gated.stderr
    missing = run("info", "nobody/nothing-here")
    assert missing.exit_code == 1 and "no such model on the Hub" in missing.stderr
    assert "Traceback" not in gated.output + missing.output


def test_unreachable_hub_is_a_clear_error_not_a_traceback(monkeypatch, run):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    result = run("info", "unsloth/Llama-3.2-1B-Instruct")
    assert result.exit_code == 1
    assert "llmfit: error:" in result.stderr and "Traceback" not in result.output


def test_bad_repo_id_is_a_usage_error(run):
    result = run("info", "hf:not a repo")
    assert result.exit_code == 2 and "is not a Hugging Face repo id" in result.stderr


def test_add_stores_the_row_every_command_and_the_api_then_see(hub, run, tmp_path):
    added = run("add", "unsloth/Llama-3.2-1B-Instruct")
    assert added.exit_code == 0 and "Added unsloth/Llama-3.2-1B-Instruct" in added.stdout
    stored = json.loads((tmp_path / "llmfit-home" / "catalog.json").read_text())
    assert [r["name"] for r in stored["models"]] == ["unsloth/Llama-3.2-1B-Instruct"]
    listed = json.loads(run("search", "unsloth/Llama-3.2", "--json").stdout)
    assert [r["name"] for r in listed["models"]] == ["unsloth/Llama-3.2-1B-Instruct"]
    from llmfit.service import LlmfitService
    from starlette.testclient import TestClient
    from llmfit.server import create_app

    service = LlmfitService(probe=lambda: cpu_box(), pulled_probe=frozenset)
    api = TestClient(create_app(service)).get("/api/v1/models/unsloth/Llama-3.2-1B-Instruct").json()
    assert api["models"][0]["name"] == "unsloth/Llama-3.2-1B-Instruct"
    again = run("add", "unsloth/Llama-3.2-1B-Instruct")
    assert "Updated" in again.stdout
    removed = run("remove", "UNSLOTH/llama-3.2-1b-instruct")
    assert removed.exit_code == 0 and "Removed unsloth/Llama-3.2-1B-Instruct" in removed.stdout
    assert json.loads((tmp_path / "llmfit-home" / "catalog.json").read_text())["models"] == []
    gone = run("remove", "unsloth/Llama-3.2-1B-Instruct")
    assert gone.exit_code == 1 and "not in the user catalog" in gone.stderr


def test_add_refuses_a_curated_model(run):
    result = run("add", "Qwen/Qwen3-8B")
    assert result.exit_code == 2 and "already in the catalog" in result.stderr


def test_update_reads_top_repos_of_publishers_into_the_user_catalog(hub, run, tmp_path):
    from llmfit.catalog import builtin_catalog_path, read_catalog_file

    curated = {m.name for m in read_catalog_file(builtin_catalog_path())}
    offered = {"Qwen/Qwen1.5-MoE-A2.7B-Chat", "Qwen/Qwen3-Next-80B-A3B-Instruct",
               "deepseek-ai/DeepSeek-V2-Lite", "acme/mystery-7b"}
    result = run("update", "--publisher", "Qwen", "--publisher", "deepseek-ai", "--publisher",
                 "acme", "-n", "5")
    assert result.exit_code == 0, result.output
    new = offered - curated
    assert (f"{len(new)} added, 0 refreshed, {len(offered & curated)} already curated, "
            "0 skipped") in result.stdout
    stored = json.loads((tmp_path / "llmfit-home" / "catalog.json").read_text())
    assert {r["name"] for r in stored["models"]} == new
    again = run("update", "--publisher", "Qwen", "-n", "1")  # the most downloaded only
    top_qwen = "Qwen/Qwen3-Next-80B-A3B-Instruct"
    expected = "0 added, 0 refreshed, 1 already curated" if top_qwen in curated else "0 added, 1 refreshed"
    assert expected in again.stdout


def test_update_skips_gated_repos_and_reports_them(hub, run):
    result = run("update", "--publisher", "meta-llama", "-n", "5")
    assert result.exit_code == 0
    assert "0 added" in result.stdout and "1 skipped" in result.stdout
    assert "gated repo" in result.stderr


def test_update_refuses_bad_publishers_and_an_unreachable_hub_quickly(monkeypatch, run):
    bad = run("update", "--publisher", "", "-n", "1")
    assert bad.exit_code == 2 and "is not a Hub organisation name" in bad.stderr
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no retries
    down = run("update", "-n", "1")
    assert down.exit_code == 1 and "cannot be reached" in down.stderr


def test_a_directory_is_not_a_model(run, tmp_path):
    result = run("info", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.stderr
