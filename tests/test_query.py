"""Filters, sorting and limits: one pure implementation shared by the CLI and the API."""

from __future__ import annotations

import pytest

from conftest import cpu_box, rtx4090_box
from llmfit.errors import UsageError
from llmfit.placement import FitLevel
from llmfit.query import MODELS, SEARCH, TOP, apply_query, parse_query, sort_results


def test_defaults_per_endpoint():
    assert parse_query({}, MODELS).limit is None
    assert parse_query({}, MODELS).include_too_tight is True
    assert parse_query({}, TOP).limit == 5
    assert parse_query({"include_too_tight": "true"}, TOP).include_too_tight is False
    assert parse_query({}, SEARCH, name="qwen").limit == 20
    assert parse_query({}, SEARCH, name="qwen").name == "qwen"


def test_values_are_normalised():
    q = parse_query({"n": "3", "runtime": "llama.cpp", "MIN_FIT": "ignored", "min_fit": "GOOD",
                     "perfect": "yes", "quant": "q4_k_m", "force_runtime": "LLAMA.CPP"})
    assert (q.limit, q.runtime, q.min_fit, q.perfect, q.quant, q.force_runtime) == (
        3, "llamacpp", "good", True, "Q4_K_M", "llamacpp")
    assert parse_query({"limit": "7", "n": "3"}).limit == 7  # limit wins over its alias
    assert parse_query({"runtime": "any"}).runtime is None


def test_echo_lists_every_filter_with_null_where_unset():
    echo = parse_query({"sort": "tps"}, TOP).echo()
    assert echo["sort"] == "tps" and echo["limit"] == 5 and echo["min_fit"] is None
    for key in ("limit", "perfect", "min_fit", "runtime", "use_case", "provider", "search",
                "sort", "include_too_tight", "max_context", "force_runtime", "quant", "ram_gb",
                "vram_gb", "cpu_cores"):
        assert key in echo


@pytest.mark.parametrize("params, message", [
    ({"min_fit": "great"}, "invalid min_fit value: use perfect|good|marginal|too_tight"),
    ({"runtime": "ollama"}, "invalid runtime value: use any|llamacpp|llama.cpp|mlx|vllm"),
    ({"use_case": "poetry"}, "invalid use_case value: use general|coding|reasoning|chat"),
    ({"sort": "size"}, "invalid sort value: use score|tps|params|mem|ctx|date|use_case"),
    ({"force_runtime": "any"}, "invalid force_runtime value: use llamacpp|llama.cpp|mlx|vllm"),
    ({"quant": "Q9_K"}, "invalid quant value: use Q2_K|"),
    ({"perfect": "maybe"}, "invalid perfect value: use true|false"),
    ({"include_too_tight": ""}, "invalid include_too_tight value"),
    ({"limit": "abc"}, "invalid limit value: 'abc' is not a whole number; use a whole number from 0"),
    ({"n": "abc"}, "invalid n value: 'abc' is not a whole number"),
    ({"limit": "1_000"}, "invalid limit value"),
    ({"limit": "\u0665"}, "invalid limit value"),
    ({"ram_gb": "x"}, "invalid ram_gb value: 'x' is not a number; use a number from 0.001"),
    ({"limit": "-1"}, "invalid limit value: use a whole number from 0 to 100,000"),
    ({"max_context": "0"}, "invalid max_context value: use a whole number from 1"),
    ({"max_context": "99999999999"}, "invalid max_context value"),
    ({"ram_gb": "nan"}, "invalid ram_gb value: 'nan' is not a number; use a number from 0.001"),
    ({"vram_gb": "-8"}, "invalid vram_gb value: use a number from 0.001"),
    ({"ram_gb": "1e-310"}, "invalid ram_gb value: use a number from 0.001"),
    ({"limit": "9" * 5000}, "invalid limit value: use a whole number from 0 to 100,000"),
    ({"cpu_cores": "1" * 50}, "invalid cpu_cores value: use a whole number from 1 to 4,096"),
    ({"ram_gb": "1e400"}, "invalid ram_gb value"),
    ({"cpu_cores": "2.5"}, "invalid cpu_cores value"),
])
def test_invalid_values_name_the_parameter_and_allowed_values(params, message):
    with pytest.raises(UsageError) as err:
        parse_query(params)
    assert str(err.value).startswith(message)


@pytest.fixture
def rows(service_for):
    service = service_for(rtx4090_box())
    results, _ = service.analyses(service.snapshot(), service.options_for(parse_query({})))
    return results


def test_min_fit_and_perfect(rows):
    total, good = apply_query(rows, parse_query({"min_fit": "good"}))
    assert total == len(good) > 0
    assert all(r.level >= FitLevel.GOOD for r in good)
    _, perfect = apply_query(rows, parse_query({"perfect": "true"}))
    assert perfect and all(r.level is FitLevel.PERFECT for r in perfect)


def test_total_counts_rows_before_the_limit(rows):
    total, limited = apply_query(rows, parse_query({"limit": "3"}))
    assert total == len(rows) and len(limited) == 3
    assert apply_query(rows, parse_query({"limit": "0"}))[1] == []


def test_text_filters_are_case_insensitive(rows):
    _, qwen = apply_query(rows, parse_query({"provider": "QWEN"}))
    assert qwen and all(r.model.provider == "Qwen" for r in qwen)
    _, coder = apply_query(rows, parse_query({"search": "coder"}))
    assert coder and all("coder" in (r.model.name + r.model.use_case + r.model.family).lower()
                         for r in coder)
    _, named = apply_query(rows, parse_query({}, SEARCH, name="LLAMA-3.1-8b"))
    names = [r.model.name for r in named]
    assert "meta-llama/Llama-3.1-8B-Instruct" in names
    assert all("llama-3.1-8b" in n.lower() for n in names)


def test_use_case_filter(rows):
    _, coding = apply_query(rows, parse_query({"use_case": "coding"}))
    assert coding and {r.model.category for r in coding} == {"Coding"}


def test_top_leaves_embedding_models_out_unless_asked(rows):
    _, top = apply_query(rows, parse_query({"limit": "1000"}, TOP))
    assert all(r.model.category != "Embedding" for r in top)
    _, emb = apply_query(rows, parse_query({"use_case": "embedding"}, TOP))
    assert emb and all(r.model.category == "Embedding" for r in emb)


@pytest.mark.parametrize("sort, key", [
    ("score", lambda r: r.scores.total), ("tps", lambda r: r.tps or -1),
    ("params", lambda r: r.model.params_b), ("mem", lambda r: r.required_gib),
    ("ctx", lambda r: r.model.context_length), ("date", lambda r: r.model.release_date)])
def test_sorts_are_descending_with_too_tight_last(service_for, sort, key):
    service = service_for(cpu_box(ram=16, available=12))
    results, _ = service.analyses(service.snapshot(), service.options_for(parse_query({})))
    ordered = sort_results(results, sort)
    levels = [r.level is FitLevel.TOO_TIGHT for r in ordered]
    assert levels == sorted(levels) and any(levels) and not all(levels)
    runnable = [r for r in ordered if r.level is not FitLevel.TOO_TIGHT]
    assert [key(r) for r in runnable] == sorted((key(r) for r in runnable), reverse=True)


def test_ties_break_by_score_then_name(rows):
    ordered = sort_results(rows, "ctx")
    for a, b in zip(ordered, ordered[1:]):
        if a.level is b.level and a.model.context_length == b.model.context_length:
            assert (a.scores.total, b.model.name.lower()) >= (b.scores.total, a.model.name.lower())


def test_use_case_sorts_ascending(rows):
    ordered = [r for r in sort_results(rows, "use_case") if r.level is not FitLevel.TOO_TIGHT]
    assert [r.model.use_case.lower() for r in ordered] == sorted(
        r.model.use_case.lower() for r in ordered)
