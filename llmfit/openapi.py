"""The OpenAPI 3 description of the REST API, built from the same constants query.py validates."""

from __future__ import annotations

from functools import cache
from typing import Any

from llmfit import query as q
from llmfit.kv_cache import KV_TYPES

_ERROR = {"description": "Invalid parameter value",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def _enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


_BOOL = {"type": "string", "enum": list(q.TRUE_WORDS + q.FALSE_WORDS)}

LISTING_PARAMETERS = [
    _param("limit", {"type": "integer", "minimum": 0, "maximum": q.MAX_LIMIT}, "Rows returned."),
    _param("n", {"type": "integer", "minimum": 0, "maximum": q.MAX_LIMIT}, "Alias of limit."),
    _param("perfect", _BOOL, "Only perfect fits."),
    _param("min_fit", _enum(q.MIN_FIT_VALUES), "At least this fit level."),
    _param("runtime", _enum(q.RUNTIME_VALUES), "Keep rows whose chosen runtime is this."),
    _param("use_case", _enum(q.USE_CASE_VALUES), "Category filter."),
    _param("provider", {"type": "string", "maxLength": 200}, "Provider or repo owner contains."),
    _param("search", {"type": "string", "maxLength": 200}, "Name, provider, size, use case contains."),
    _param("sort", _enum(q.SORT_VALUES), "Sort column (use_case ascending, others descending)."),
    _param("include_too_tight", _BOOL, "Include models that do not fit (never on /top)."),
    _param("max_context", {"type": "integer", "minimum": 1, "maximum": q.MAX_CONTEXT_TOKENS},
           "Context used for the estimates."),
    _param("force_runtime", _enum(q.FORCE_RUNTIME_VALUES), "Analyse as if this runtime were used."),
    _param("quant", {"type": "string"}, "Pin a quantization (Q4_K_M, Q8_0, mlx-4bit, MXFP4 ...)."),
    _param("installed", _BOOL, "Only models a local runtime has (see /api/v1/installed)."),
    _param("license", {"type": "string", "maxLength": 200},
           "Keep rows whose license is one of these ids (comma-separated)."),
    _param("capability", {"type": "string", "maxLength": 200},
           "Keep rows having all of these capability ids (comma-separated)."),
    _param("kv_quant", _enum(KV_TYPES), "KV-cache element type the memory figures assume."),
    _param("parallel", {"type": "integer", "minimum": 1, "maximum": q.MAX_PARALLEL},
           "Concurrent sequences, each with its own KV cache."),
]
WHAT_IF_PARAMETERS = [
    _param("ram_gb", {"type": "number", "exclusiveMinimum": 0, "maximum": q.MAX_MEMORY_GIB},
           "Analyse for this much RAM (GiB)."),
    _param("vram_gb", {"type": "number", "minimum": 0, "maximum": q.MAX_MEMORY_GIB},
           "Analyse for this much GPU memory (GiB); 0: the machine without its GPUs."),
    _param("cpu_cores", {"type": "integer", "minimum": 1, "maximum": q.MAX_CPU_CORES},
           "Analyse for this many CPU cores."),
]


def _get(summary: str, schema: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    ok = {"description": "OK",
          "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}
    responses: dict[str, Any] = {"200": ok}
    if parameters:
        responses["400"] = _ERROR
    return {"get": {"summary": summary, "parameters": parameters, "responses": responses}}


def _index() -> dict[str, Any]:
    """`/`: the JSON index, or the dashboard page for a browser (Accept: text/html)."""
    index = _get("Index of the endpoints; the dashboard page when Accept asks for text/html",
                 "Index", [])
    index["get"]["responses"]["200"]["content"]["text/html"] = {"schema": {"type": "string"}}
    return index


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.0 document served at /openapi.json."""
    listing = LISTING_PARAMETERS + WHAT_IF_PARAMETERS
    name = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "Case-insensitive text searched in model names (may contain /)."}
    return {
        "openapi": "3.0.3",
        "info": {"title": "llmfit", "version": "1",
                 "description": "Which open LLMs run on this node, and how fast."},
        "paths": {
            "/": _index(),
            "/health": _get("Liveness", "Health", []),
            "/openapi.json": _get("This document", "Index", []),
            "/api/v1/system": _get("Detected hardware", "SystemBody", WHAT_IF_PARAMETERS),
            "/api/v1/models": _get("All models that pass the filters", "Envelope", listing),
            "/api/v1/models/top": _get("Top runnable models (limit 5)", "Envelope", listing),
            "/api/v1/models/{name}": _get("Models matching a name (limit 20)", "Envelope",
                                          [name] + listing),
            "/api/v1/runtimes": _get("Local runtimes: installed, running, version", "Runtimes", []),
            "/api/v1/installed": _get("Models local runtimes have", "Installed", []),
            "/api/v1/plan": {"post": {
                "summary": "The hardware a model needs (minimum, recommended, per run path)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/PlanRequest"}}}},
                "responses": {"200": {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Plan"}}}},
                    "400": _ERROR, "404": _ERROR, "415": _ERROR}}},
            "/ui/{file}": {"get": {
                "summary": "The dashboard's static files (app.js, app.css, icon.svg)",
                "parameters": [{"name": "file", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"},
                              "404": {**_ERROR, "description": "No such file"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format, see docs/api.md)",
                                 "parameters": [], "responses": {"200": {
                                     "description": "OK", "content": {"text/plain": {
                                         "schema": {"type": "string"}}}}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "Index": {"type": "object"},
            "Health": {"type": "object", "required": ["status", "node"],
                       "properties": {"status": {"type": "string", "enum": ["ok"]},
                                      "node": {"type": "object"}}},
            "SystemBody": {"type": "object", "required": ["node", "system"]},
            "Runtimes": {"type": "object", "required": ["runtimes", "warnings"]},
            "PlanRequest": {"type": "object", "required": ["model"], "properties": {
                "model": {"type": "string"}, "context": {"type": "integer", "nullable": True},
                "quant": {"type": "string", "nullable": True},
                "kv_quant": {"type": "string", "enum": list(KV_TYPES), "nullable": True},
                "target_tps": {"type": "number", "nullable": True},
                "parallel": {"type": "integer", "nullable": True},
                "ram_gb": {"type": "number", "nullable": True},
                "vram_gb": {"type": "number", "nullable": True},
                "cpu_cores": {"type": "integer", "nullable": True}}},
            "Plan": {"type": "object", "required": [
                "model_name", "provider", "context", "parallel", "quantization", "kv_quant",
                "target_tps", "disk_size_gb", "estimate_notice", "current", "minimum",
                "recommended", "run_paths", "upgrade_deltas", "kv_alternatives"]},
            "Installed": {"type": "object", "required": ["models", "warnings"]},
            "Envelope": {"type": "object",
                         "required": ["node", "system", "total_models", "returned_models",
                                      "filters", "models"],
                         "properties": {"total_models": {"type": "integer"},
                                        "returned_models": {"type": "integer"},
                                        "models": {"type": "array", "items": {"type": "object"}}}},
        }},
    }
