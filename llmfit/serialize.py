"""The one serializer: the JSON objects the API answers and `--json` prints (api-contract.md)."""

from __future__ import annotations

import os
import shlex
import platform
import socket
from typing import Any, Mapping

from llmfit.catalog import parameter_count_label
from llmfit.estimate import cpu_stream_gbps
from llmfit.fit import FitResult, Runtime
from llmfit.installed import is_installed
from llmfit.placement import Pools, RunMode, main_efficiency
from llmfit.query import Query
from llmfit.values import SystemSpec

OS_NAMES = {"darwin": "macos", "linux": "linux", "windows": "windows"}


def gib(value: float | None) -> float | None:
    """Memory figures: GiB rounded to 2 decimals."""
    return None if value is None else round(float(value), 2)


def one_decimal(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


def node_json() -> dict[str, str]:
    """This node: NODE_NAME (Kubernetes downward API), else HOSTNAME, else the hostname."""
    name = os.environ.get("NODE_NAME") or os.environ.get("HOSTNAME") or socket.gethostname()
    system = platform.system().lower()
    return {"name": name or "unknown", "os": OS_NAMES.get(system, system or "unknown")}


def system_json(system: SystemSpec) -> dict[str, Any]:
    """The system object."""
    primary = system.primary_gpu
    return {
        "total_ram_gb": gib(system.total_ram_gib),
        "available_ram_gb": gib(system.available_ram_gib),
        "cpu_cores": int(system.cpu_cores),
        "cpu_name": system.cpu_name or "Unknown CPU",
        "has_gpu": system.has_gpu,
        "gpu_vram_gb": gib(primary.vram_gib) if primary else None,
        "gpu_available_gb": gib(primary.free_vram_gib) if primary else None,
        "gpu_name": primary.name if primary else None,
        "gpu_count": int(system.gpu_count),
        "unified_memory": system.unified_memory,
        "backend": system.backend,
        "gpus": [{"name": g.name, "vram_gb": gib(g.vram_gib), "free_vram_gb": gib(g.free_vram_gib),
                  "backend": g.backend, "count": int(g.count), "unified_memory": g.unified_memory,
                  "memory_bandwidth_gbps": one_decimal(g.bandwidth_gbps)} for g in system.gpus],
        "cpu_bandwidth_gbps": one_decimal(cpu_stream_gbps(system.ram_bandwidth_gbps, system.cpu_cores,
                                                          system.cpu_bandwidth_gbps)),
        "cpu_bandwidth_source": "measured" if system.cpu_bandwidth_gbps else "assumed",
        "notes": list(system.notes),
    }


def supported_tp(result: FitResult) -> list[int]:
    """Tensor-parallel sizes that divide the attention heads (and KV heads, or are a multiple)."""
    arch = result.model.arch
    return [n for n in (1, 2, 4, 8, 16) if arch.attention_heads % n == 0
            and (arch.kv_heads % n == 0 or n % arch.kv_heads == 0)]


def verify_command(result: FitResult, pools: Pools) -> str | None:
    """A llama-bench command that measures what the row estimates (llama.cpp rows only)."""
    if result.runtime is not Runtime.LLAMACPP or result.quant is None or result.tps is None:
        return None
    exact = result.model.exact_weights
    if exact is not None and exact.quant.upper() == result.quant.upper():
        base, quant = exact.path, ""
    else:
        base, quant = result.model.name.split("/", 1)[-1] + "-", result.quant + ".gguf"
    layers = {RunMode.CPU_ONLY: "0"}.get(result.mode, "99")
    extra = " -ot exps=CPU" if result.mode is RunMode.MOE_OFFLOAD else ""
    if result.mode is RunMode.CPU_OFFLOAD:
        layers = str(max(int(result.model.arch.layers * _gpu_share(result, pools)), 0))
    return f"llama-bench -m {shlex.quote(base + quant)} -ngl {layers}{extra} -p 0 -n 128"


def _gpu_share(result: FitResult, pools: Pools) -> float:
    usable = pools.gpu_gib * 0.9 - (result.required_gib - result.disk_gib)
    return max(min(usable / result.disk_gib, 1.0), 0.0) if result.disk_gib else 0.0


def estimate_basis(result: FitResult, pools: Pools) -> dict[str, Any]:
    """How the figures on the row were derived."""
    on_cpu = result.mode is RunMode.CPU_ONLY
    eff = main_efficiency(result.mode, pools)
    if result.tps is None:
        method = "none: does not fit" if result.level.code == "too_tight" else "none: bandwidth unknown"
    else:
        method = "bandwidth_calibrated" if result.speed.calibrated else "bandwidth_assumed_cpu"
    return {
        "method": method,
        "gpu_bandwidth_gbps": None if on_cpu else one_decimal(pools.gpu_bandwidth_gbps),
        "ddr_bandwidth_gbps": one_decimal(pools.cpu_bandwidth_gbps),
        "efficiency": None if result.speed.efficiency is None else round(result.speed.efficiency, 3),
        "assumed_context": int(result.assumed_context),
        "local_calibration": bool(eff is not None and eff.local_factor != 1.0),
    }


def memory_breakdown(result: FitResult) -> dict[str, Any]:
    """Weights, KV cache and runtime overhead of `memory_required_gb`'s total, in GiB."""
    from llmfit.estimate import GIB, kv_cache_bytes

    kv = kv_cache_bytes(result.model.arch, result.effective_context, result.kv) / GIB
    overhead = max(result.total_gib - result.disk_gib - kv, 0.0)
    return {"weights_gb": gib(result.disk_gib), "kv_cache_gb": gib(kv),
            "overhead_gb": gib(overhead)}


def peak_load_gib(result: FitResult, pools: Pools) -> float:
    """Memory while loading: on a CPU run, plus the copy llama.cpp repacks (data/repack.csv)."""
    from llmfit.estimate import repack_share

    if result.mode is not RunMode.CPU_ONLY or result.quant is None:
        return result.total_gib
    return result.total_gib + repack_share(pools.cpu_arch, result.quant) * result.disk_gib


def weights_exact(result: FitResult) -> bool:
    """Whether the weight bytes are a real file's own (a GGUF's tensor table)."""
    exact = result.model.exact_weights
    return exact is not None and result.quant is not None and exact.quant.upper() == result.quant.upper()


def speed_fields(result: FitResult, pools: Pools) -> dict[str, Any]:
    """Range, confidence and full-context speed of a row's estimate."""
    from llmfit.confidence import speed_range

    on_cpu = result.mode is RunMode.CPU_ONLY
    eff = main_efficiency(result.mode, pools)
    offloaded = result.mode in (RunMode.CPU_OFFLOAD, RunMode.MOE_OFFLOAD)
    known = pools.cpu_bandwidth_measured if on_cpu else pools.gpu_bandwidth_gbps is not None
    r = speed_range(result.tps, eff, result.model.is_moe, offloaded, known)
    return {"estimated_tps_low": one_decimal(r.low), "estimated_tps_high": one_decimal(r.high),
            "estimate_confidence": r.confidence,
            "estimated_tps_full_context": one_decimal(result.speed_full.tps),
        "aggregate_tps": one_decimal(result.tps * result.kv.sequences) if result.tps else None,
        "prefill_tps": one_decimal(result.prefill_tps),
        "ttft_ms": one_decimal(_ttft(result))}


def _ttft(result: FitResult) -> float | None:
    """Time to first token for a 1,024-token prompt: prefill at that length, one decode step."""
    from llmfit.prefill import TTFT_PROMPT_TOKENS, PP_TOKENS, flops_per_token, ttft_ms

    if result.prefill_tps is None:
        return None
    active = result.model.active_params_b or result.model.params_b
    arch = result.model.arch
    at_length = result.prefill_tps * (flops_per_token(arch, active, PP_TOKENS)
                                      / flops_per_token(arch, active, TTFT_PROMPT_TOKENS))
    return ttft_ms(at_length, result.tps)


def _file_note(result: FitResult) -> list[str]:
    if not weights_exact(result):
        return []
    exact = result.model.exact_weights
    assert exact is not None
    return [f"Weights are the file's own: {exact.total_bytes:,} bytes at {exact.quant}."]


def row_json(result: FitResult, pools: Pools, pulled: frozenset[str] = frozenset(),
             measured: Mapping[tuple[str, str], float] | None = None) -> dict[str, Any]:
    """One model row; `pulled` holds what local runtimes have (see installed.is_installed),
    `measured` the speeds `llmfit bench` recorded on it by (model, quant)."""
    m, s = result.model, result.scores
    return {
        "name": m.name, "provider": m.provider,
        "parameter_count": parameter_count_label(m), "params_b": round(m.params_b, 3),
        "context_length": int(m.context_length),
        "effective_context_length": int(result.effective_context),
        "usable_context": int(result.usable_context),
        "use_case": m.use_case, "category": m.category, "release_date": m.release_date,
        "is_moe": m.is_moe,
        "fit_level": result.level.code, "fit_label": result.level.label,
        "run_mode": result.mode.code, "run_mode_label": result.mode.label,
        "score": one_decimal(s.total),
        "score_components": {"quality": one_decimal(s.quality), "speed": one_decimal(s.speed),
                             "fit": one_decimal(s.fit), "context": one_decimal(s.context)},
        "estimated_tps": one_decimal(result.tps),
        **speed_fields(result, pools),
        "runtime": result.runtime.code, "runtime_label": result.runtime.label,
        "best_quant": result.quant,
        "memory_required_gb": gib(result.required_gib),
        "memory_available_gb": gib(result.available_gib),
        "utilization_pct": one_decimal(result.utilization_pct),
        "moe_offloaded_gb": gib(result.offloaded_gib),
        "total_memory_gb": gib(result.total_gib),
        "disk_size_gb": gib(result.disk_gib),
        "weight_bytes": round(result.disk_gib * 2**30),
        "weights_exact": weights_exact(result),
        "memory_breakdown": memory_breakdown(result),
        "peak_load_memory_gb": gib(peak_load_gib(result, pools)),
        "notes": list(m.source_notes) + _file_note(result) + list(result.notes),
        "capabilities": list(m.capabilities), "capability_ids": list(m.capabilities),
        "license": m.license,
        "supports_tp": supported_tp(result),
        "gguf_sources": [{"repo": g.repo, "provider": g.provider} for g in m.gguf_sources],
        "installed": is_installed(m.name, m.ollama_name, pulled),
        "ollama_name": m.ollama_name,
        "estimate_basis": estimate_basis(result, pools),
        "verify_command": verify_command(result, pools),
        "measured_tps": one_decimal((measured or {}).get(
            (m.name.lower(), (result.quant or "").upper()))),
    }


def envelope(node: dict[str, str], system: SystemSpec, pools: Pools, total: int,
             rows: list[FitResult], query: Query, pulled: frozenset[str] = frozenset(),
             measured: Mapping[tuple[str, str], float] | None = None) -> dict[str, Any]:
    """The envelope of /models, /models/top, /models/{name} and `--json` listings."""
    models = [row_json(r, pools, pulled, measured) for r in rows]
    return {"node": node, "system": system_json(system), "total_models": int(total),
            "returned_models": len(models), "filters": query.echo(), "models": models}
