"""Property tests: whatever the query string or model name, the API answers JSON, never a 500."""

from __future__ import annotations

import string
import warnings
from urllib.parse import quote

import pytest
from conftest import rtx4090_box
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmfit import query as q
from llmfit.server import create_app
from llmfit.service import LlmfitService

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def fuzz(examples: int) -> settings:
    """Fast and reproducible: ~150 examples in all, no example database."""
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


ENVELOPE = {"node", "system", "total_models", "returned_models", "filters", "models"}

KEYS = st.one_of(st.sampled_from(q.QUERY_KEYS + ("n",)),
                 st.sampled_from(("", "LIMIT", "limit[]", "min-fit", "x", "ñ", "limit ", "%")),
                 st.text(max_size=8))
SPECIAL = ("", " ", "nan", "NaN", "inf", "-inf", "Infinity", "-0", "0", "-1", "1e309", "1e-320",
           "0x10", "1_000", "٥", "１２", "+5", " 8 ", "true", "yes", "no", "llama.cpp", "any",
           "Q4_K_M", "mlx-4bit", "\x00", "🦙", "a" * 201, "9" * 400, "1" * 4300)
ALLOWED = q.MIN_FIT_VALUES + q.RUNTIME_VALUES + q.USE_CASE_VALUES + q.SORT_VALUES + q.TRUE_WORDS
NO_SURROGATES = st.characters(blacklist_categories=("Cs",))
VALUES = st.one_of(
    st.sampled_from(SPECIAL + ALLOWED),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=NO_SURROGATES, max_size=30),
)
PARAMS = st.lists(st.tuples(KEYS.filter(lambda k: "\x00" not in k), VALUES), max_size=6)
RAW_QUERY = st.text(alphabet=string.ascii_letters + string.digits + "=&%;+._-", max_size=40)
NAMES = st.one_of(
    st.text(alphabet=NO_SURROGATES, max_size=60).map(lambda s: quote(s, safe="/")),
    st.sampled_from(("", "%2F", "%2f%2F", "%ZZ", "%00", "%", "a%2", "..%2F..", "top/x",
                     "Qwen/Qwen2.5-7B-Instruct", "x" * 250, "%E2%82", "%C3%28")),
)


@pytest.fixture(scope="module")
def client(catalog):
    service = LlmfitService(catalog=catalog, probe=rtx4090_box)
    return TestClient(create_app(service), raise_server_exceptions=False)


def check(response, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    if response.status_code == 200:
        assert ENVELOPE <= set(body) or set(body) == {"node", "system"}
        if "models" in body:
            assert body["returned_models"] == len(body["models"]) <= body["total_models"]
    else:
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]


@fuzz(70)
@given(path=st.sampled_from(("/api/v1/models", "/api/v1/models/top", "/api/v1/models/llama",
                             "/api/v1/system")),
       params=PARAMS)
def test_random_query_parameters_answer_json(client, path, params):
    check(client.get(path, params=params), {200, 400})


@fuzz(30)
@given(path=st.sampled_from(("/api/v1/models", "/api/v1/models/top", "/api/v1/system")),
       raw=RAW_QUERY)
def test_malformed_query_strings_answer_json(client, path, raw):
    check(client.get(f"{path}?{raw}"), {200, 400})


@fuzz(50)
@given(name=NAMES, params=PARAMS)
def test_random_model_names_answer_json(client, name, params):
    # 404: a name with ".." can climb out of /api/v1/models/ once the URL is normalised
    check(client.get(f"/api/v1/models/{name}", params=params), {200, 400, 404})
