"""How fast the CPU cores stream memory: a short read probe, cached per machine.

Decode on a CPU reads every weight once per token, so its speed follows the bandwidth the cores
can actually stream, which differs several-fold between machines (estimation.md). The probe
reads a buffer larger than the caches with one thread per core and keeps the best of a few
rounds (~0.2 s). The figure is cached in the user cache dir; `llmfit system --measure` refreshes
it and LLMFIT_NO_MEASURE=1 turns the probe off (the figure is then assumed).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from pathlib import Path

NO_MEASURE_ENV = "LLMFIT_NO_MEASURE"
PROBE_MIB = 384  # well past the last-level cache of desktop and server parts
ROUNDS = 3


def measure_stream_gbps(threads: int, mib: int = PROBE_MIB, rounds: int = ROUNDS) -> float:
    """Read bandwidth (GB/s) of `threads` threads each reducing its share of a `mib` buffer."""
    import numpy as np
    from concurrent.futures import ThreadPoolExecutor

    threads = max(1, threads)
    data = np.ones(mib * 2**20 // 4, dtype=np.float32)
    chunks = np.array_split(data, threads)
    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(np.max, chunks))  # touch the pages and start the threads
        for _ in range(rounds):
            start = time.perf_counter()
            list(pool.map(np.max, chunks))  # numpy releases the GIL in reductions
            best = max(best, data.nbytes / (time.perf_counter() - start) / 1e9)
    return best


def _fingerprint(cpu_name: str, cores: int) -> str:
    return f"{socket.gethostname()}|{cpu_name}|{cores}"


def _cache_path() -> Path:
    from llmfit.paths import cache_dir

    return cache_dir() / "bandwidth.json"


def read_cached(cpu_name: str, cores: int) -> float | None:
    """The cached figure for this machine, or None."""
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != _fingerprint(cpu_name, cores):
        return None
    value = data.get("stream_gbps")
    return float(value) if isinstance(value, (int, float)) and 0 < value < 1e5 else None


def write_cache(cpu_name: str, cores: int, gbps: float) -> None:
    path = _cache_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"fingerprint": _fingerprint(cpu_name, cores),
                                    "stream_gbps": round(gbps, 2), "threads": cores,
                                    "measured_at": dt.datetime.now(dt.timezone.utc).isoformat()}),
                        encoding="utf-8")
    except OSError:
        pass  # a read-only cache dir costs a re-measure next time


def cpu_stream_bandwidth(cpu_name: str, cores: int, refresh: bool = False) -> tuple[float | None, str]:
    """(GB/s, "measured") from the cache or a fresh probe; (None, "assumed") when turned off."""
    if os.environ.get(NO_MEASURE_ENV, "").strip() not in ("", "0"):
        return None, "assumed"
    cached = None if refresh else read_cached(cpu_name, cores)
    if cached is not None:
        return cached, "measured"
    try:
        gbps = measure_stream_gbps(cores)
    except (ImportError, MemoryError, OSError, RuntimeError):
        return None, "assumed"
    write_cache(cpu_name, cores, gbps)
    return gbps, "measured"
