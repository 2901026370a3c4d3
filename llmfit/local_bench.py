"""Local truth: run `llama-bench` on a GGUF the user has, keep the result per machine, and turn
the records into measured speeds for rows and a per-class correction of the other estimates."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import statistics
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmfit.errors import LlmfitError, UsageError

BENCH_TIMEOUT_S = 1800
MIN_FACTOR, MAX_FACTOR = 0.2, 5.0  # a correction outside this is a broken run, not a machine


class BenchError(LlmfitError):
    """llama-bench could not run or gave no result."""

    exit_code = 1
    http_status = 500


@dataclass(frozen=True)
class BenchRecord:
    """One llama-bench result on this machine, beside llmfit's estimate of it at the time."""

    machine: str
    model: str  # the analysed model's name (catalog name where the file matched one)
    quant: str
    file: str
    device_class: str  # calibration class the run used (cpu, gpu, apple, datacenter)
    measured_tps: float
    estimated_tps: float
    n_gpu_layers: int
    when: str


def machine_key(cpu_name: str, gpu_names: list[str]) -> str:
    """Records apply to the machine they were taken on: host, CPU and GPUs."""
    return "|".join([socket.gethostname(), cpu_name] + sorted(gpu_names))


def find_llama_bench(explicit: str | None) -> Path:
    """--llama-bench PATH, else `llama-bench` on PATH; a clear error when neither exists."""
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise UsageError(f"--llama-bench {explicit}: not an executable file")
        return path
    found = shutil.which("llama-bench")
    if not found:
        raise UsageError("llama-bench is not on PATH: install llama.cpp or give --llama-bench PATH")
    return Path(found)


def parse_bench_json(text: str) -> float:
    """tokens/s of the tg test in llama-bench's `-o json` output."""
    try:
        runs = json.loads(text)
    except ValueError:
        raise BenchError("llama-bench printed no JSON (is it llama.cpp's llama-bench?)") from None
    speeds = [float(r["avg_ts"]) for r in runs if isinstance(r, dict)
              and r.get("n_gen", 0) > 0 and r.get("n_prompt", 1) == 0 and "avg_ts" in r]
    if not speeds:
        raise BenchError("llama-bench reported no token-generation result")
    return speeds[0]


def run_llama_bench(binary: Path, file: Path, threads: int, n_gpu_layers: int) -> float:
    """Decode speed (tg128, 3 repetitions) of `file`; BenchError when the run fails."""
    args = [str(binary), "-m", str(file), "-p", "0", "-n", "128", "-r", "3", "-o", "json",
            "-t", str(threads), "-ngl", str(n_gpu_layers)]
    try:
        done = subprocess.run(args, capture_output=True, encoding="utf-8", errors="replace",
                              timeout=BENCH_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"llama-bench did not run: {exc}") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"llama-bench failed (exit {done.returncode}): {tail[0][:200]}")
    return parse_bench_json(done.stdout)


def _store() -> Path:
    from llmfit.paths import data_dir

    return data_dir() / "benchmarks.json"


def load_records(path: Path | None = None) -> list[BenchRecord]:
    """Every stored record ([] when none or unreadable)."""
    try:
        raw = json.loads((path or _store()).read_text(encoding="utf-8"))
        return [BenchRecord(**r) for r in raw.get("records", [])]
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def save_record(record: BenchRecord, path: Path | None = None) -> None:
    """Add a record; an older one of the same machine, model and quant is replaced."""
    path = path or _store()
    kept = [r for r in load_records(path)
            if (r.machine, r.model, r.quant) != (record.machine, record.model, record.quant)]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"records": [asdict(r) for r in kept + [record]]}, indent=1),
                        encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot store the result in {path}: {exc.strerror or exc}") from None


def local_factors(records: list[BenchRecord], machine: str) -> dict[str, float]:
    """Per calibration class on this machine: median of measured / estimated."""
    by_class: dict[str, list[float]] = {}
    for r in records:
        if r.machine == machine and r.estimated_tps > 0:
            ratio = r.measured_tps / r.estimated_tps
            if MIN_FACTOR <= ratio <= MAX_FACTOR:
                by_class.setdefault(r.device_class, []).append(ratio)
    return {cls: statistics.median(v) for cls, v in by_class.items()}


def measured_speeds(records: list[BenchRecord], machine: str) -> dict[tuple[str, str], float]:
    """(model name lower-cased, quant upper-cased) -> measured tokens/s on this machine."""
    return {(r.model.lower(), r.quant.upper()): r.measured_tps for r in records
            if r.machine == machine}


def new_record(machine: str, model: str, quant: str, file: Path, device_class: str,
               measured: float, estimated: float, n_gpu_layers: int) -> BenchRecord:
    return BenchRecord(machine, model, quant, str(file), device_class, round(measured, 3),
                       round(estimated, 3), n_gpu_layers,
                       dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def describe(record: BenchRecord) -> dict[str, Any]:
    return asdict(record)


def bench_model(service: Any, model: Any, name: str, binary: Path) -> tuple[BenchRecord, float | None]:
    """Measure `model` (a local GGUF) on this machine, keep the record beside llmfit's estimate
    without any local correction; returns it and the class's correction factor now."""
    from llmfit import query as q
    from llmfit.estimate import quant_table
    from llmfit.placement import RunMode, main_efficiency

    exact = model.exact_weights
    system = service.snapshot()
    pools = service.pools_for(system)
    raw = {"quant": exact.quant} if exact.quant.upper() in quant_table() else {}
    row = service.model_body(model, q.parse_query(raw, q.SEARCH))["models"][0]
    on_cpu = row["run_mode"] == RunMode.CPU_ONLY.code
    eff = main_efficiency(RunMode.CPU_ONLY if on_cpu else RunMode.GPU, pools)
    cls = eff.device_class if eff else "gpu"
    estimated = (row["estimated_tps"] or 0.0) / (eff.local_factor if eff else 1.0)
    ngl = 0 if on_cpu else 99
    measured = run_llama_bench(binary, Path(exact.path), system.cpu_cores, ngl)
    key = machine_key(system.cpu_name, [g.name for g in system.gpus])
    record = new_record(key, name, exact.quant, Path(exact.path), cls, measured, estimated, ngl)
    save_record(record)
    return record, local_factors(load_records(), key).get(cls)


def summary_line(record: BenchRecord) -> str:
    """One line for the terminal: measured vs estimated."""
    off = (f" ({(record.estimated_tps / record.measured_tps - 1) * 100:+.0f}% off)"
           if record.estimated_tps else "")
    return (f"{record.model} {record.quant}: measured {record.measured_tps:.1f} tok/s, "
            f"llmfit estimated {record.estimated_tps:.1f}{off}")
