"""Measure real llama.cpp decode speed and peak memory on this machine's CPU.

    python scripts/measure_cpu.py --bin LLAMA_CPP_BIN_DIR --out tests/data/cpu-measured.csv \
        NAME=MODEL.gguf [NAME=MODEL.gguf ...]

NAME is the catalog model whose shapes the GGUF has (scripts/random_gguf.py + llama-quantize,
see shared/reference/cpu-measurement.md). For each file: `llama-bench -t <cores> -p 0 -n 128
-r 3` at depth 0 (and at depth 4096 with --depth), after waiting for the machine to be idle;
the rows are appended to --out with the machine's measured stream bandwidth, the llama.cpp
build and the flags. `--memory` also records peak RSS of `llama-completion` with and without
`--no-repack`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIELDS = ("device", "backend", "memory_bandwidth_gbps", "threads", "model", "quant",
          "file_bytes", "depth", "tg_tps", "tg_tps_stddev", "peak_rss_mib",
          "peak_rss_no_repack_mib", "build", "flags")


def busy_cores() -> float:
    """Cores busy over the next 3 seconds, from /proc/stat."""
    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]

    total0, idle0 = sample()
    time.sleep(3)
    total1, idle1 = sample()
    cores = os.cpu_count() or 1
    return cores * (1 - (idle1 - idle0) / max(total1 - total0, 1))


def wait_idle(limit_s: float = 300) -> None:
    start = time.time()
    while busy_cores() > 0.3 and time.time() - start < limit_s:
        pass


def bench(binary: Path, model: Path, threads: int, depth: int) -> tuple[float, float, str]:
    args = [str(binary / "llama-bench"), "-m", str(model), "-t", str(threads), "-p", "0",
            "-n", "128", "-r", "3", "-o", "json"] + (["-d", str(depth)] if depth else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    row = json.loads(out)[0]
    return float(row["avg_ts"]), float(row["stddev_ts"]), str(row.get("build_commit", ""))


def peak_rss_mib(binary: Path, model: Path, threads: int, no_repack: bool) -> float:
    args = ["/usr/bin/time", "-v", str(binary / "llama-completion"), "-m", str(model), "-t",
            str(threads), "-c", "2048", "-n", "16", "-p", "hello", "-no-cnv"]
    args += ["--no-repack"] if no_repack else []
    err = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL).stderr
    kib = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    return round(int(kib.group(1)) / 1024, 1) if kib else float("nan")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--depth", type=int, default=0, help="also measure at this KV depth")
    parser.add_argument("--memory", action="store_true", help="also record peak RSS")
    parser.add_argument("models", nargs="+", metavar="NAME=FILE")
    args = parser.parse_args(argv)
    from llmfit.hardware.cpu import cpu_name_for, read_cpu_cores
    from llmfit.hardware.membw import measure_stream_gbps

    threads = read_cpu_cores()
    device = cpu_name_for("linux", Path("/proc"), {})
    wait_idle()
    stream = max(measure_stream_gbps(threads) for _ in range(3))
    print(f"{device}: {threads} threads, stream {stream:.1f} GB/s", flush=True)
    new = not args.out.exists()
    with args.out.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, lineterminator="\n")
        if new:
            writer.writeheader()
        for item in args.models:
            name, _, file = item.partition("=")
            path = Path(file)
            quant = path.stem.rsplit("-", 1)[-1]
            rss = rss_nr = ""
            if args.memory:
                wait_idle()
                rss = peak_rss_mib(args.bin, path, threads, False)
                rss_nr = peak_rss_mib(args.bin, path, threads, True)
            for depth in [0] + ([args.depth] if args.depth else []):
                wait_idle()
                tps, sd, build = bench(args.bin, path, threads, depth)
                row = {"device": device, "backend": "CPU", "memory_bandwidth_gbps": round(stream, 1),
                       "threads": threads, "model": name, "quant": quant,
                       "file_bytes": path.stat().st_size, "depth": depth,
                       "tg_tps": round(tps, 2), "tg_tps_stddev": round(sd, 2),
                       "peak_rss_mib": rss if depth == 0 else "",
                       "peak_rss_no_repack_mib": rss_nr if depth == 0 else "",
                       "build": build, "flags": f"llama-bench -t {threads} -p 0 -n 128 -r 3"
                                                + (f" -d {depth}" if depth else "")}
                writer.writerow(row)
                fh.flush()
                print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
