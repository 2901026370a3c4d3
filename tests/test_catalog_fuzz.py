"""Catalog overlays from careless or hostile hands: every input is a valid catalog or one clear
CatalogError, never a traceback, a hang or an unbounded read."""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from llmfit.catalog import builtin_catalog_path, read_catalog_file
from llmfit.errors import CatalogError

BASE = json.loads(builtin_catalog_path().read_text())["models"][0]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


def load(tmp_path, content: bytes):
    path = tmp_path / "overlay.json"
    path.write_bytes(content)
    return read_catalog_file(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(BASE) + [f"arch.{k}" for k in sorted(BASE["arch"])]), value=json_values)
def test_any_value_in_any_field_is_a_clean_result(tmp_path, key, value):
    row = copy.deepcopy(BASE)
    row["name"] = "me/fuzzed"
    if key.startswith("arch."):
        row["arch"][key[5:]] = value
    else:
        row[key] = value
    try:
        models = load(tmp_path, json.dumps({"models": [row]}).encode())
    except CatalogError:
        return
    from llmfit.fit import AnalysisOptions, analyse
    from llmfit.placement import machine_pools
    from conftest import cpu_box

    analyse(models[0], machine_pools(cpu_box()), AnalysisOptions())  # and it can be analysed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=json_values)
def test_any_document_is_a_clean_result(tmp_path, doc):
    try:
        load(tmp_path, json.dumps(doc).encode())
    except CatalogError:
        pass


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe{}", "is not UTF-8 text"),
    (b'{"models": [{"params_b": NaN}]}', "is not valid JSON"),
    (b'{"models": [{"params_b": Infinity}]}', "is not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "is not valid JSON"),
    (b'{"models": [{"params_b": ' + b"9" * 5000 + b"}]}", "is not valid JSON"),
    (b'{"models": "lots"}', "expected a list of models"),
])
def test_broken_files_get_a_clear_error(tmp_path, content, message):
    with pytest.raises(CatalogError, match=message):
        load(tmp_path, content)


def test_huge_numbers_and_strings_in_rows_are_refused(tmp_path):
    for key, value in (("params_b", 10**400), ("use_case", "x" * 10_000), ("extra_params_b", 1e300)):
        row = dict(copy.deepcopy(BASE), name="me/big", **{key: value})
        with pytest.raises(CatalogError, match=key):
            load(tmp_path, json.dumps({"models": [row]}).encode())


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
def test_non_regular_files_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(CatalogError, match="not a regular file"):
        read_catalog_file(fifo)
    with pytest.raises(CatalogError, match="not a regular file"):
        read_catalog_file(type(fifo)("/dev/zero"))


def test_an_oversized_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("llmfit.catalog.MAX_CATALOG_BYTES", 1000)
    with pytest.raises(CatalogError, match="larger than"):
        load(tmp_path, b" " * 2000)
