"""The catalog is data users trust: every row is consistent with its own architecture facts."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re

import pytest

from llmfit.architecture import decoder_param_count
from llmfit.catalog import (builtin_catalog_path, load_catalog, merge_overlay, parse_catalog,
                            parse_row, parameter_count_label)
from llmfit.errors import CatalogError

ROWS = json.loads(builtin_catalog_path().read_text())["models"]
MODELS = parse_catalog(ROWS)
# Families the catalog must cover (issue #2): a substring of `family` for each.
FAMILIES = ["Llama 2", "Llama 3", "Llama 3.1", "Llama 3.2", "Llama 3.3", "Llama 4", "Qwen2.5",
            "Qwen3", "Qwen2.5-Coder", "Qwen2.5-VL", "Mistral", "Mixtral", "Gemma 2", "Gemma 3",
            "Phi-3", "Phi-3.5", "Phi-4", "DeepSeek", "gpt-oss", "Granite", "OLMo", "SmolLM",
            "StarCoder2", "Yi", "Command R", "GLM", "InternLM", "Falcon",
            # issue #6: every major open family released up to November 2026
            "Gemma 3n", "Gemma 4", "Qwen3-Next", "Qwen3-Coder", "Qwen3-VL", "Qwen3.5", "Qwen3.6",
            "DeepSeek-V3.1", "DeepSeek-V3.2", "GLM-4.5", "GLM-4.6", "GLM-4.7", "GLM-5", "Kimi K2",
            "Mistral Small 3.2", "Magistral", "Devstral", "Ministral 3", "Phi-4", "Granite 4",
            "Olmo 3", "Nemotron", "SmolLM3", "gpt-oss", "MiniMax", "ERNIE", "Hunyuan", "EXAONE",
            "Falcon-H1", "LFM2", "Hermes 4", "Command A", "Apertus", "EmbeddingGemma"]
TAG = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?(:[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$")


def by_name(name: str):
    return next(m for m in MODELS if m.name == name)


def test_catalog_is_large_and_covers_the_families_people_run():
    assert len(MODELS) >= 350
    families = " | ".join(m.family for m in MODELS)
    missing = [f for f in FAMILIES if f not in families]
    assert not missing
    embedders = {m.provider for m in MODELS if m.category == "Embedding"}
    assert {"Nomic AI", "BAAI", "Microsoft", "Mixedbread", "Alibaba"} <= embedders


def test_names_are_unique_repo_ids():
    names = [m.name.lower() for m in MODELS]
    assert len(names) == len(set(names))
    assert all(n.count("/") == 1 for n in names)


@pytest.mark.parametrize("model", [m for m in MODELS if m.arch.kind != "hybrid"],
                         ids=lambda m: m.name)
def test_parameters_recomputed_from_architecture_agree(model):
    recomputed = decoder_param_count(model.arch) / 1e9 + model.extra_params_b
    assert recomputed == pytest.approx(model.params_b, rel=0.10)
    if model.is_moe:
        active = decoder_param_count(model.arch, active_only=True) / 1e9 + model.extra_params_b
        assert active == pytest.approx(model.active_params_b, rel=0.15)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_row_facts_are_sensible(model):
    a = model.arch
    assert dt.date(2019, 1, 1) <= dt.date.fromisoformat(model.release_date) <= dt.date.today()
    assert a.attention_heads % a.kv_heads == 0
    assert 32 <= a.head_dim <= 512
    assert (model.active_params_b is not None) == model.is_moe
    if model.is_moe:
        assert model.active_params_b < model.params_b
    if a.sliding_window:
        assert 0 < a.sliding_window_layers < a.attention_layers
    if a.kind == "hybrid":  # Falcon-H1 runs attention beside Mamba in every layer: <=
        assert 0 < a.attention_layers <= a.layers
    # Native windows as published, never RoPE-multiplied (Llama 4 Scout's 10M is the longest).
    assert model.context_length <= 10_485_760
    assert model.category == "Embedding" or model.context_length >= 2048


def test_known_context_windows_are_native_not_rope_multiplied():
    assert by_name("meta-llama/Llama-3.1-8B-Instruct").context_length == 131072
    assert by_name("Qwen/Qwen2.5-7B-Instruct").context_length == 32768
    assert by_name("Qwen/QwQ-32B").context_length == 131072  # card: "Full 131,072 tokens"
    assert by_name("CohereForAI/aya-expanse-32b").context_length == 8192  # its config.json


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["name"])
def test_ollama_names_have_the_shape_of_a_tag_and_dates_are_real_days(row):
    tag = row["ollama_name"]
    assert tag is None or TAG.match(tag), tag
    day = dt.date.fromisoformat(row["release_date"])  # a real calendar day, YYYY-MM-DD
    assert day.isoformat() == row["release_date"]
    assert dt.date(2018, 1, 1) <= day <= dt.date.today()


def test_rows_added_since_the_first_catalog_say_where_their_facts_came_from():
    # Rows researched for issue #6 carry provenance; where a value is not from config.json or
    # the card, the provenance says so.
    recent = [r for r in ROWS if r["release_date"] >= "2025-11-01"]
    assert recent and all(len(r.get("provenance", "")) >= 10 for r in recent)


def test_known_release_dates_are_announcements_not_last_modified():
    assert by_name("mistralai/Mixtral-8x7B-Instruct-v0.1").release_date.startswith("2023-12")


def test_parameter_count_label():
    assert parameter_count_label(by_name("meta-llama/Llama-3.1-8B-Instruct")) == "8.0B"
    moe = by_name("Qwen/Qwen3-30B-A3B")
    assert parameter_count_label(moe) == f"{moe.params_b:.1f}B ({moe.active_params_b:.1f}B active)"


def _row(**changes):
    row = copy.deepcopy(next(r for r in ROWS if r["name"] == "meta-llama/Llama-3.1-8B-Instruct"))
    for key, value in changes.items():
        if key.startswith("arch."):
            row["arch"][key[5:]] = value
        else:
            row[key] = value
    return row


@pytest.mark.parametrize("changes, reason", [
    ({"params_b": 0}, "params_b must be a positive number"),
    ({"params_b": "8B"}, "params_b must be a positive number"),
    ({"release_date": "2024-13-01"}, "release_date must be YYYY-MM-DD"),
    ({"release_date": "2101-01-01"}, "outside 2018..2100"),
    ({"category": "Poetry"}, "category must be one of"),
    ({"capabilities": ["telepathy"]}, "capabilities must be a list drawn from"),
    ({"context_length": 16_777_216}, "is not a native window"),
    ({"active_params_b": 99.0}, "active_params_b exceeds params_b"),
    ({"arch.kv_heads": 7}, "kv_heads must divide"),
    ({"arch.layers": 0}, "arch.layers must be a positive integer"),
    ({"arch.rope": 1}, "unexpected keyword argument 'rope'"),
    ({"name": "no-owner"}, "Hugging Face repo id"),
])
def test_loader_rejects_bad_rows_with_name_and_reason(changes, reason):
    row = _row(**changes)
    with pytest.raises(CatalogError, match=reason) as err:
        parse_row(row)
    assert repr(row["name"]) in str(err.value)


def test_loader_rejects_a_missing_key_and_duplicates():
    row = _row()
    del row["license"]
    with pytest.raises(CatalogError, match="missing keys: license"):
        parse_row(row)
    with pytest.raises(CatalogError, match="duplicate model name"):
        parse_catalog([_row(), _row(name="META-LLAMA/Llama-3.1-8B-Instruct")])


def test_overlay_replaces_by_name_case_insensitively_and_adds(tmp_path, monkeypatch):
    replaced = _row(name="META-LLAMA/llama-3.1-8b-instruct", use_case="Replaced by overlay")
    added = _row(name="me/my-finetune", use_case="Mine")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"models": [replaced, added]}))
    base = load_catalog()
    merged = load_catalog(str(path))
    assert len(merged) == len(base) + 1
    assert [m.use_case for m in merged if m.name.lower() == replaced["name"].lower()] == [
        "Replaced by overlay"]
    monkeypatch.setenv("LLMFIT_CATALOG", str(path))
    assert load_catalog()[-1].name == "me/my-finetune"


def test_overlay_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="is not valid JSON"):
        load_catalog(str(bad))
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(str(tmp_path / "missing.json"))


def test_merge_keeps_base_order():
    a, b = parse_catalog([_row(), _row(name="x/y")])
    assert merge_overlay([a, b], []) == [a, b]


def test_dates_ahead_of_this_machines_clock_are_valid(cli, tmp_path):
    """Validation has a fixed window, not "before today": a board without an RTC that boots in
    1970, or an unsynced container, still loads a catalog of models released since."""
    overlay = tmp_path / "future.json"
    overlay.write_text(json.dumps({"schema_version": 1, "models": [
        _row(name="future-lab/Model-From-2099", release_date="2099-12-31")]}))
    assert parse_row(_row(release_date="2100-12-31")).release_date == "2100-12-31"
    done = cli(120)("models", "--catalog", str(overlay), "--search", "Model-From-2099", "--json")
    assert done.exit_code == 0, done.output
    assert [m["name"] for m in json.loads(done.stdout)["models"]] == ["future-lab/Model-From-2099"]
