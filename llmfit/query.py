"""Pure: parse query parameters (API) and options (CLI) into one Query; filter, sort, limit rows."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping, Sequence

from llmfit.errors import UsageError
from llmfit.catalog import CAPABILITIES, parameter_count_label
from llmfit.fit import FitResult, Runtime, resolve_quant
from llmfit.installed import is_installed
from llmfit.kv_cache import KV_TYPES
from llmfit.placement import FitLevel

MIN_FIT_VALUES = ("perfect", "good", "marginal", "too_tight")
RUNTIME_VALUES = ("any", "llamacpp", "llama.cpp", "mlx", "vllm")
FORCE_RUNTIME_VALUES = ("llamacpp", "llama.cpp", "mlx", "vllm")
USE_CASE_VALUES = ("general", "coding", "reasoning", "chat", "multimodal", "embedding")
SORT_VALUES = ("score", "tps", "params", "mem", "ctx", "date", "use_case")
TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes"), ("false", "0", "no")
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
MAX_LIMIT = 100_000
MIN_DECIMAL = 0.001  # memory sizes below a MiB are typos (and 1e-310 would overflow the math)
MAX_CONTEXT_TOKENS = 10_000_000
MAX_MEMORY_GIB = 1_048_576.0  # 1 PiB: anything larger is a typo
MAX_CPU_CORES = 4096
QUERY_KEYS = ("limit", "perfect", "min_fit", "runtime", "use_case", "provider", "search", "sort",
              "include_too_tight", "max_context", "force_runtime", "quant", "ram_gb", "vram_gb",
              "cpu_cores", "license", "capability", "kv_quant", "parallel", "installed")
MAX_PARALLEL = 1024


@dataclass(frozen=True)
class Query:
    """The effective query state: every filter, None where unset."""

    limit: int | None = None
    perfect: bool | None = None
    min_fit: str | None = None
    runtime: str | None = None
    use_case: str | None = None
    provider: str | None = None
    search: str | None = None
    sort: str = "score"
    include_too_tight: bool = True
    max_context: int | None = None
    force_runtime: str | None = None
    quant: str | None = None
    ram_gb: float | None = None
    vram_gb: float | None = None
    cpu_cores: int | None = None
    license: tuple[str, ...] | None = None  # any of these ids
    capability: tuple[str, ...] | None = None  # all of these ids
    kv_quant: str = "fp16"
    parallel: int = 1
    installed: bool | None = None  # only rows a local runtime has
    name: str | None = None  # /api/v1/models/{name}: a second case-insensitive search
    embeddings: bool = True  # include embedding models (/top: only with use_case=embedding)

    def echo(self) -> dict[str, Any]:
        """The `filters` object of the envelope."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
                for f in fields(self)}

    @property
    def forced_runtime(self) -> Runtime | None:
        return None if self.force_runtime is None else Runtime(self.force_runtime)


@dataclass(frozen=True)
class Endpoint:
    """Defaults that differ between /models, /top and /models/{name}."""

    limit: int | None = None
    include_too_tight: bool = True
    too_tight_allowed: bool = True
    # /top recommends generative models; embedding models only when use_case=embedding asks.
    embeddings_on_request: bool = False


MODELS = Endpoint()
TOP = Endpoint(limit=5, include_too_tight=False, too_tight_allowed=False,
               embeddings_on_request=True)
SEARCH = Endpoint(limit=20)


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    word = value.strip().lower()
    if word not in allowed:
        raise UsageError(f"invalid {name} value: use {'|'.join(allowed)}")
    return "llamacpp" if word == "llama.cpp" else word


def parse_bool(name: str, value: str) -> bool:
    """true/false/1/0/yes/no, any case."""
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise UsageError(f"invalid {name} value: use true|false (also 1|0, yes|no)")


def parse_int(name: str, value: str, minimum: int, maximum: int) -> int:
    """A whole number (ASCII digits) within [minimum, maximum]."""
    text = value.strip()
    allowed = f"use a whole number from {minimum} to {maximum:,}"
    if len(text) > 30:  # longer than any allowed value (and than int() accepts quickly)
        raise UsageError(f"invalid {name} value: {allowed}")
    if not _WHOLE_NUMBER.fullmatch(text):
        raise UsageError(f"invalid {name} value: {value!r} is not a whole number; {allowed}")
    number = int(text)
    if not minimum <= number <= maximum:
        raise UsageError(f"invalid {name} value: {allowed}")
    return number


def parse_positive_float(name: str, value: str, maximum: float) -> float:
    """A finite decimal number above zero and at most `maximum`."""
    text = value.strip()
    allowed = f"use a number from {MIN_DECIMAL} to {maximum:,.0f}"
    if len(text) > 40:
        raise UsageError(f"invalid {name} value: {allowed}")
    if not _DECIMAL.fullmatch(text):
        raise UsageError(f"invalid {name} value: {text[:40]!r} is not a number; {allowed}")
    number = float(text)
    if not math.isfinite(number) or not MIN_DECIMAL <= number <= maximum:
        raise UsageError(f"invalid {name} value: {allowed}")
    return number


def parse_id_list(name: str, value: str, allowed: Sequence[str] | None = None) -> tuple[str, ...] | None:
    """Comma-separated ids, lower-cased; each one of `allowed` where given."""
    text = _text(name, value)
    if text is None:
        return None
    ids = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    for item in ids:
        if allowed is not None and item not in allowed:
            raise UsageError(f"invalid {name} value: use {'|'.join(allowed)} (comma-separated)")
    return ids or None


def _is_zero(value: str) -> bool:
    """"0", "0.0", "000": vram_gb=0 asks for the machine without a GPU."""
    return bool(re.fullmatch(r"0+(\.0*)?", value.strip()))


def _text(name: str, value: str) -> str | None:
    text = value.strip()
    if len(text) > 200:
        raise UsageError(f"invalid {name} value: at most 200 characters")
    return text or None


_PARSERS: dict[str, Callable[[str], Any]] = {
    "limit": lambda v: parse_int("limit", v, 0, MAX_LIMIT),
    "perfect": lambda v: parse_bool("perfect", v),
    "min_fit": lambda v: _choice("min_fit", v, MIN_FIT_VALUES),
    "runtime": lambda v: _choice("runtime", v, RUNTIME_VALUES),
    "use_case": lambda v: _choice("use_case", v, USE_CASE_VALUES),
    "provider": lambda v: _text("provider", v),
    "search": lambda v: _text("search", v),
    "sort": lambda v: _choice("sort", v, SORT_VALUES),
    "include_too_tight": lambda v: parse_bool("include_too_tight", v),
    "max_context": lambda v: parse_int("max_context", v, 1, MAX_CONTEXT_TOKENS),
    "force_runtime": lambda v: _choice("force_runtime", v, FORCE_RUNTIME_VALUES),
    "quant": lambda v: resolve_quant(v).name,
    "ram_gb": lambda v: parse_positive_float("ram_gb", v, MAX_MEMORY_GIB),
    "vram_gb": lambda v: 0.0 if _is_zero(v) else parse_positive_float("vram_gb", v, MAX_MEMORY_GIB),
    "cpu_cores": lambda v: parse_int("cpu_cores", v, 1, MAX_CPU_CORES),
    "license": lambda v: parse_id_list("license", v),
    "capability": lambda v: parse_id_list("capability", v, CAPABILITIES),
    "kv_quant": lambda v: _choice("kv_quant", v, KV_TYPES),
    "parallel": lambda v: parse_int("parallel", v, 1, MAX_PARALLEL),
    "installed": lambda v: parse_bool("installed", v),
}


def parse_query(params: Mapping[str, str | None], endpoint: Endpoint = MODELS,
                name: str | None = None) -> Query:
    """Validate raw string parameters (unknown keys ignored; `n` is an alias of `limit`)."""
    raw = {k: v for k, v in params.items() if v is not None}
    values: dict[str, Any] = {k: _PARSERS[k](raw[k]) for k in QUERY_KEYS if k in raw}
    if "limit" not in raw and "n" in raw:
        values["limit"] = parse_int("n", raw["n"], 0, MAX_LIMIT)
    if values.get("runtime") == "any":
        values["runtime"] = None
    values.setdefault("limit", endpoint.limit)
    values.setdefault("include_too_tight", endpoint.include_too_tight)
    values.setdefault("sort", "score")
    if not endpoint.too_tight_allowed:
        values["include_too_tight"] = False
    if name is not None:
        values["name"] = _text("name", name)
    values["embeddings"] = not endpoint.embeddings_on_request or values.get("use_case") == "embedding"
    return Query(**values)


def _matches(result: FitResult, query: Query, installed: frozenset[str]) -> bool:
    model = result.model
    if query.installed and not is_installed(model.name, model.ollama_name, installed):
        return False
    if query.perfect and result.level is not FitLevel.PERFECT:
        return False
    if query.min_fit and result.level < FitLevel[query.min_fit.upper()]:
        return False
    if not query.include_too_tight and result.level is FitLevel.TOO_TIGHT:
        return False
    if query.runtime and result.runtime.code != query.runtime:
        return False
    if query.use_case and model.category.lower() != query.use_case:
        return False
    if not query.embeddings and model.category == "Embedding":
        return False
    if query.provider and query.provider.lower() not in f"{model.provider}\n{model.owner}".lower():
        return False
    if query.license and (model.license or "").lower() not in query.license:
        return False
    if query.capability and not set(query.capability) <= set(model.capabilities):
        return False
    for needle in (query.search, query.name):
        if needle and needle.lower() not in search_text(result):
            return False
    return True


def search_text(result: FitResult) -> str:
    """What `search` looks in: name, provider, parameter count, use case, category."""
    m = result.model
    return "\n".join((m.name, m.provider, parameter_count_label(m), m.use_case, m.category,
                      m.family)).lower()


_SORT_KEYS: dict[str, Callable[[FitResult], Any]] = {
    "score": lambda r: r.scores.total,
    "tps": lambda r: r.tps if r.tps is not None else -1.0,
    "params": lambda r: r.model.params_b,
    "mem": lambda r: r.required_gib,
    "ctx": lambda r: r.model.context_length,
    "date": lambda r: r.model.release_date,
}


def sort_results(results: list[FitResult], sort: str) -> list[FitResult]:
    """Runnable rows first; then the sort key (descending; use_case ascending); score; name."""
    ordered = sorted(results, key=lambda r: r.model.name.lower())
    ordered.sort(key=lambda r: r.scores.total, reverse=True)
    if sort == "use_case":
        ordered.sort(key=lambda r: r.model.use_case.lower())
    elif sort != "score":
        ordered.sort(key=_SORT_KEYS[sort], reverse=True)
    ordered.sort(key=lambda r: r.level is FitLevel.TOO_TIGHT)
    return ordered


def apply_query(results: list[FitResult], query: Query,
                installed: frozenset[str] = frozenset()) -> tuple[int, list[FitResult]]:
    """Filter and sort; returns (rows that passed before the limit, the limited rows).
    `installed`: what local runtimes have (llmfit.installed.is_installed), for `installed=true`."""
    kept = [r for r in results if _matches(r, query, installed)]
    ordered = sort_results(kept, query.sort)
    limited = ordered if query.limit is None else ordered[: query.limit]
    return len(ordered), limited
