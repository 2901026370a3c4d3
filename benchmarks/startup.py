"""Wall time of cold `llmfit` processes (what a user or a script waits for).

    python benchmarks/startup.py [--runs 10]

Runs each command in a fresh process (the installed `llmfit` if on PATH, else
`python -m llmfit`) and reports the median and best wall time. Target: `top --json` < 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["top", "--json"], ["top"], ["system", "--json"], ["search", "qwen", "--json"],
            ["--gpu", "RTX 4090", "--ram", "64G", "top", "--json"])


def launcher() -> list[str]:
    exe = shutil.which("llmfit")
    return [exe] if exe else [sys.executable, "-m", "llmfit"]


def time_command(args: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall times of `runs` fresh `llmfit ARGS` processes."""
    env = env or dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="80")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(launcher() + args, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    print(f"launcher: {' '.join(launcher())}; {runs} runs each")
    worst_median = 0.0
    for args in COMMANDS:
        times = time_command(args, runs)
        median = statistics.median(times)
        if args == ["top", "--json"]:
            worst_median = median
        print(f"  llmfit {' '.join(args):42} median {median * 1000:6.0f} ms   best {min(times) * 1000:6.0f} ms")
    print(f"target: `llmfit top --json` under 300 ms: {'met' if worst_median < 0.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
