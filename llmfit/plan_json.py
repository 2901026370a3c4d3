"""The plan's edges: a request body checked field by field, and the response object of the contract."""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from llmfit.catalog import ModelSpec
from llmfit.errors import NotFoundError, UsageError
from llmfit.estimate import GIB, kv_cache_bytes
from llmfit.fit import FitResult, Runtime
from llmfit.kv_cache import KV_TYPES, KvCache, runtime_flag, supported
from llmfit.placement import RunMode, memory_need_gib
from llmfit.plan import Hardware, PathPlan, Plan, PlanRequest
from llmfit.query import MAX_CONTEXT_TOKENS, MAX_CPU_CORES, MAX_MEMORY_GIB, MAX_PARALLEL

FIELDS = ("model", "context", "quant", "kv_quant", "target_tps", "parallel", "ram_gb", "vram_gb",
          "cpu_cores")
MAX_TARGET_TPS = 100_000.0


def find_model(catalog: Sequence[ModelSpec], text: str) -> ModelSpec:
    """A catalog row by exact name (any case), else by a unique case-insensitive match."""
    wanted = text.strip().lower()
    exact = [m for m in catalog if m.name.lower() == wanted]
    exact = exact or [m for m in catalog if m.name.lower().split("/", 1)[-1] == wanted]
    if len(exact) == 1:
        return exact[0]
    found = exact or ([m for m in catalog if wanted in m.name.lower()] if wanted else [])
    if not found:
        raise NotFoundError(f"no model matches {text[:80]!r}: `llmfit search` or "
                            "GET /api/v1/models lists the names")
    if len(found) > 1:
        names = ", ".join(m.name for m in found[:10])
        more = f" and {len(found) - 10} more" if len(found) > 10 else ""
        raise UsageError(f"model {text[:80]!r} matches {len(found)} models: {names}{more}")
    return found[0]


def _int(body: Mapping[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"invalid {key}: use a whole number from {low} to {high:,}")
    return value


def _number(body: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value) or not low <= value <= high:
        raise UsageError(f"invalid {key}: use a number from {low:g} to {high:,.0f}")
    return float(value)


def _string(body: Mapping[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise UsageError(f"invalid {key}: use a non-empty string of at most 200 characters")
    return value.strip()


def parse_plan_body(body: Any, catalog: Sequence[ModelSpec]) -> tuple[PlanRequest, dict[str, Any]]:
    """(request, what-if hardware) from a POST /api/v1/plan body; UsageError naming the field."""
    if not isinstance(body, dict):
        raise UsageError("invalid body: send a JSON object such as {\"model\": \"Qwen3-8B\"}")
    name = _string(body, "model")
    if name is None:
        raise UsageError("invalid model: the field is required (a catalog model name)")
    kv = _string(body, "kv_quant")
    if kv is not None and kv.lower() not in KV_TYPES:
        raise UsageError(f"invalid kv_quant: use {'|'.join(KV_TYPES)}")
    quant = _string(body, "quant")
    if quant is not None:
        from llmfit.fit import resolve_quant

        quant = resolve_quant(quant).name
    hardware = {"ram_gb": _number(body, "ram_gb", 0.001, MAX_MEMORY_GIB),
                "vram_gb": _number(body, "vram_gb", 0.0, MAX_MEMORY_GIB),
                "cpu_cores": _int(body, "cpu_cores", 1, MAX_CPU_CORES)}
    request = PlanRequest(
        model=find_model(catalog, name), context=_int(body, "context", 1, MAX_CONTEXT_TOKENS),
        quant=quant, kv_quant=(kv or "fp16").lower(),
        target_tps=_number(body, "target_tps", 0.001, MAX_TARGET_TPS),
        parallel=_int(body, "parallel", 1, MAX_PARALLEL) or 1)
    return request, hardware


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def _hw(hw: Hardware | None) -> dict[str, Any] | None:
    return None if hw is None else hw.json()


def _path_json(path: PathPlan) -> dict[str, Any]:
    result = path.result
    return {"path": path.mode.code, "feasible": path.minimum is not None,
            "fit_level": result.level.code if result else None,
            "estimated_tps": _r(result.tps) if result else None,
            "minimum": _hw(path.minimum), "recommended": _hw(path.recommended),
            "target_reached": path.target_reached, "notes": list(path.notes)}


def _current(result: FitResult) -> dict[str, Any]:
    return {"fit_level": result.level.code, "fit_label": result.level.label,
            "run_mode": result.mode.code, "run_mode_label": result.mode.label,
            "estimated_tps": _r(result.tps)}


def upgrade_deltas(plan: Plan) -> list[dict[str, Any]]:
    """From this node to each better fit level, per path: what to add, resource by resource."""
    here, now = plan.current_hw, plan.current.level
    out = []
    for path in plan.paths:
        for level, hw in sorted(path.levels.items()):
            if level <= now:
                continue
            for resource, need, have in (("vram_gb", hw.vram_gb, here.vram_gb),
                                         ("ram_gb", hw.ram_gb, here.ram_gb)):
                if need > have + 0.05:
                    add = math.ceil((need - have) * 10) / 10
                    what = "GPU memory" if resource == "vram_gb" else "system RAM"
                    verb = f"Add {add:g} GB of {what}"
                    if resource == "vram_gb" and have <= 0:
                        verb = f"Add a GPU with at least {need:g} GB"
                    out.append({"resource": resource, "add_gb": add, "add_cores": 0,
                                "target_fit": level.code, "path": path.mode.code,
                                "description": f"{verb} to reach {level.label} on the "
                                               f"{path.mode.label} path."})
    return out


def kv_alternatives(plan: Plan) -> list[dict[str, Any]]:
    """Every KV-cache type at the plan's context and sequences: size, total, support, flag."""
    model, ctx, seqs = plan.request.model, plan.context, plan.kv.sequences
    weights = plan.weights
    mode = plan.best.mode if plan.best else RunMode.CPU_ONLY
    backend = None if mode is RunMode.CPU_ONLY else plan.backend
    base_kv = kv_cache_bytes(model.arch, ctx, KvCache("fp16", seqs))
    rows = []
    for kind in KV_TYPES:
        kv = KvCache(kind, seqs)
        size = kv_cache_bytes(model.arch, ctx, kv)
        ok = supported(plan.runtime, kind)
        flag = runtime_flag(plan.runtime, kind)
        note = flag if ok and flag else f"not supported by {Runtime(plan.runtime).label}"
        rows.append({"kv_quant": kind, "kv_cache_gb": _r(size / GIB, 2),
                     "memory_required_gb": _r(memory_need_gib(model.arch, weights, ctx, backend, 1, kv), 2),
                     "savings_fraction": round(1 - size / base_kv, 3) if base_kv else 0.0,
                     "supported": ok, "note": note})
    return rows


def commands(plan: Plan) -> dict[str, str | None]:
    """The llama-server and Ollama settings that reproduce the plan (llama.cpp models)."""
    model, kv, ctx = plan.request.model, plan.kv, plan.context
    if plan.runtime != "llamacpp":
        return {"llama_server": None, "ollama": None}
    repo = model.gguf_sources[0].repo if model.gguf_sources else None
    source = f"-hf {repo}:{plan.quant}" if repo else f"-m {model.name.split('/')[-1]}-{plan.quant}.gguf"
    flag = runtime_flag("llamacpp", kv.kind) or ""
    mode = plan.best.mode if plan.best else RunMode.GPU
    layers = {RunMode.CPU_ONLY: " -ngl 0", RunMode.MOE_OFFLOAD: " -ngl 99 -ot exps=CPU"}.get(mode, " -ngl 99")
    server = f"llama-server {source} -c {ctx * kv.sequences} -np {kv.sequences}{layers}"
    server += f" {flag}" if flag and not flag.startswith("(") else ""
    ollama = None
    if model.ollama_name:
        env = [f"OLLAMA_CONTEXT_LENGTH={ctx}"]
        env += [f"OLLAMA_NUM_PARALLEL={kv.sequences}"] if kv.sequences > 1 else []
        if kv.kind in ("q8_0", "q4_0"):
            env += ["OLLAMA_FLASH_ATTENTION=1", f"OLLAMA_KV_CACHE_TYPE={kv.kind}"]
        ollama = " ".join(env) + f" ollama serve  # then: ollama run {model.ollama_name}"
    return {"llama_server": server, "ollama": ollama}


def plan_json(plan: Plan, notice: str) -> dict[str, Any]:
    """The POST /api/v1/plan response object."""
    best = plan.best
    req = plan.request
    return {
        "model_name": req.model.name, "provider": req.model.provider,
        "context": plan.context, "parallel": plan.kv.sequences, "quantization": plan.quant,
        "kv_quant": plan.kv.kind, "target_tps": req.target_tps,
        "disk_size_gb": _r(plan.current.disk_gib, 2), "estimate_notice": notice,
        "current": _current(plan.current),
        "minimum": _hw(best.minimum) if best else None,
        "recommended": _hw(best.recommended) if best else None,
        "recommended_path": best.mode.code if best else None,
        "target_reached": best.target_reached if best else None,
        "run_paths": [_path_json(p) for p in plan.paths],
        "upgrade_deltas": upgrade_deltas(plan),
        "kv_alternatives": kv_alternatives(plan),
        "commands": commands(plan),
    }


