"""Load benchmark of `llmfit serve`: requests/s and p50/p99 latency with concurrent clients.

Starts the server on a free 127.0.0.1 port (hardware overrides keep the answers deterministic),
then drives each endpoint from N keep-alive clients for a bounded number of requests or seconds.

    python benchmarks/load.py [--clients 8] [--requests 2000] [--seconds 20]

Target (scheduler polling): /api/v1/models/top at >= 500 requests/s with 8 clients, p99 < 50 ms.
Exits 1 when the server does not start, 3 when a request fails.
"""

from __future__ import annotations

import argparse
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ENDPOINTS = ("/health", "/api/v1/models/top?limit=5&min_fit=good", "/api/v1/models")
OVERRIDES = ("--ram", "32G", "--cpu-cores", "8")
LISTENING = re.compile(r"listening on (http://\S+) ")


@dataclass(frozen=True)
class Result:
    path: str
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile of the latencies, in ms."""
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        rank = math.ceil(pct / 100 * len(ordered))
        return ordered[min(max(rank, 1), len(ordered)) - 1]


def start_server(timeout_s: float) -> tuple[subprocess.Popen[str], str]:
    """Start `llmfit serve` on a free loopback port; return it and its base URL once /health answers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "NODE_NAME": "bench"}
    cmd = [sys.executable, "-m", "llmfit", "serve", "--host", "127.0.0.1", "--port", "0", *OVERRIDES]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    deadline = time.monotonic() + timeout_s
    base = _wait_for_url(proc, lines, deadline)
    while base and time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    stop_server(proc)
    output = "".join(iter_queue(lines))
    raise SystemExit(f"load: the server did not start within {timeout_s:.0f} s\n{output}")


def _wait_for_url(proc: subprocess.Popen[str], lines: queue.Queue[str], deadline: float) -> str | None:
    seen = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        match = LISTENING.search(line)
        if match:
            return match.group(1)
    for line in seen:
        lines.put(line)
    return None


def iter_queue(lines: queue.Queue[str]):
    while True:
        try:
            yield lines.get_nowait()
        except queue.Empty:
            return


def stop_server(proc: subprocess.Popen[str]) -> int:
    """SIGINT, then kill after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()


def drive(base: str, path: str, clients: int, max_requests: int, max_seconds: float) -> Result:
    """`clients` threads, each with a keep-alive client, share a budget of requests and seconds."""
    lock = threading.Lock()
    budget = [max_requests]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def take() -> bool:
        with lock:
            if budget[0] <= 0 or time.monotonic() > deadline[0]:
                return False
            budget[0] -= 1
            return True

    def worker(i: int) -> None:
        with httpx.Client(base_url=base, timeout=10) as client:
            client.get(path)  # open the connection before the clock starts
            start.wait()
            while take():
                t0 = time.perf_counter()
                response = client.get(path)
                latencies[i].append((time.perf_counter() - t0) * 1000)
                if response.status_code != 200 or not response.content:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline[0] = time.monotonic() + max_seconds
    start.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - t0
    flat = [x for per in latencies for x in per]
    return Result(path, len(flat), sum(errors), elapsed, flat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=2000, help="per endpoint")
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    args = parser.parse_args()

    proc, base = start_server(args.start_timeout)
    try:
        results = [drive(base, path, args.clients, args.requests, args.seconds) for path in ENDPOINTS]
    finally:
        code = stop_server(proc)
    print(f"llmfit serve {' '.join(OVERRIDES)} on {base}, {args.clients} clients, "
          f"{os.cpu_count()} CPUs, server exit code {code}")
    print(f"{'endpoint':<42} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}")
    for r in results:
        print(f"{r.path:<42} {r.requests:>8} {r.errors:>6} {r.per_second:>8.0f} "
              f"{r.percentile(50):>7.2f} {r.percentile(99):>7.2f}")
    return 3 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
