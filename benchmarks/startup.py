"""Wall time of cold `llmfit` processes (what a user or a script waits for).

    python benchmarks/startup.py [--runs 10] [--against DIR]

Runs each command in a fresh process (the installed `llmfit` if on PATH, else
`python -m llmfit`) and reports the median and best wall time. Target: `top --json` < 0.3 s.
With --against DIR (another source tree, e.g. `git archive HEAD | tar -x -C DIR`), both trees
are timed in turn, run by run, and the change of each median is shown: new features must leave
`llmfit top` within 10%. `installed` and `top --installed` show what the runtime probes cost
when asked for (plain `top` never runs them).
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
ON_REQUEST = (["installed", "--json"], ["top", "--installed", "--json"])  # probes all runtimes


def launcher() -> list[str]:
    exe = shutil.which("llmfit")
    return [exe] if exe else [sys.executable, "-m", "llmfit"]


def time_command(args: list[str], runs: int, env: dict[str, str] | None = None,
                 root: Path = ROOT, module: bool = False) -> list[float]:
    """Wall times of `runs` fresh `llmfit ARGS` processes (the llmfit package of `root`)."""
    env = env or dict(os.environ, PYTHONPATH=str(root), COLUMNS="80")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        # Comparisons run both trees through `python -m llmfit`: each its own entry point.
        command = [sys.executable, "-m", "llmfit"] if module else launcher()
        subprocess.run(command + args, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="another source tree to compare with, run by run")
    options = parser.parse_args()
    runs = options.runs
    if options.against:
        return compare(options.against.resolve(), runs)
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


def compare(other: Path, runs: int) -> int:
    """Median of each command here and in `other`, timed alternately (noise hits both alike)."""
    print(f"this tree: {ROOT}\nagainst:   {other}\n{runs} runs each, alternating")
    worst = 0.0
    for args in COMMANDS:
        mine: list[float] = []
        theirs: list[float] = []
        for _ in range(runs):
            mine += time_command(args, 1, module=True)
            theirs += time_command(args, 1, root=other, module=True)
        new, old = statistics.median(mine), statistics.median(theirs)
        change = (new - old) / old * 100
        if args[0] == "top":
            worst = max(worst, change)
        print(f"  llmfit {' '.join(args):42} {old * 1000:6.0f} ms -> {new * 1000:6.0f} ms  {change:+5.1f}%")
    for args in ON_REQUEST:
        print(f"  llmfit {' '.join(args):42} {statistics.median(time_command(args, runs)) * 1000:6.0f} ms (this tree)")
    print(f"`llmfit top` within 10%: {'yes' if worst <= 10 else 'NO'} (worst {worst:+.1f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
