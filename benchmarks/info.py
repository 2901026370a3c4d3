"""Wall time of `llmfit info` on a local GGUF file and on a cached Hub repo.

    python benchmarks/info.py [--runs 5]

Writes a 70B-shaped Q4_K_M GGUF (a ~40 GB sparse file: real header and tensor table, a hole
where the weights are; 128,256 tokenizer entries) and times `llmfit info FILE --json` in fresh
processes. Then starts the loopback Hub of the tests, fetches a repo once, and times the cached
`llmfit info org/name --json` (no network). Targets: both well under a second.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from startup import time_command as timed  # noqa: E402


def report(label: str, times: list[float]) -> None:
    print(f"  {label:52} median {statistics.median(times) * 1000:6.0f} ms   "
          f"best {min(times) * 1000:6.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    from gguf_builder import Shape, write_gguf
    from hub_server import FakeHub

    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="100", LLMFIT_HOME=f"{tmp}/home",
                   HF_HOME=f"{tmp}/hf", HF_HUB_DISABLE_TELEMETRY="1")
        path = Path(tmp) / "llama-70b-Q4_K_M.gguf"
        made = write_gguf(path, Shape(layers=80, hidden=8192, ff=28672, heads=64, kv_heads=8,
                                      vocab=128256, context=131072, tokens=128256))
        print(f"GGUF: {made['file_bytes'] / 1e9:.1f} GB file, {made['tensor_bytes']:,} tensor bytes")
        report("llmfit info 70B.gguf --json", timed(["info", str(path), "--json"], runs, env))
        report("llmfit info 70B.gguf (table)", timed(["info", str(path)], runs, env))
        with FakeHub() as hub:
            env["HF_ENDPOINT"] = hub.url
            timed(["info", "unsloth/Llama-3.2-1B-Instruct", "--json"], 1, env)  # fills the cache
            served = len(hub.requests)
            report("llmfit info unsloth/Llama-3.2-1B-Instruct (cached)",
                   timed(["info", "unsloth/Llama-3.2-1B-Instruct", "--json"], runs, env))
            print(f"  Hub requests during the cached runs: {len(hub.requests) - served}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
