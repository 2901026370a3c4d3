"""Fleet poll benchmark: `llmfit fleet top` over N simulated agents on loopback.

Records the real answers of one agent (the service in-process, fixed hardware), then serves
them from N ports of one child process (asyncio, one port per agent, each answer carrying its
own node name), and times the poll + merge of `fleet top` (median of --runs), and the whole
`python -m llmfit fleet top --json` command once.

    python benchmarks/fleet.py [--agents 50] [--runs 7]

Target: 50 agents polled in well under a second (a scheduler's polling period).
Exits 3 when an agent counts as down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PARAMS = {"limit": "10", "min_fit": "good"}
PATH = "/api/v1/models/top"


def recorded_answer() -> dict[str, Any]:
    """What a real agent (32 GiB RAM, 8 cores, one RTX 4090) answers to the fleet top request."""
    from starlette.testclient import TestClient

    from llmfit.cli_app import make_service
    from llmfit.server import create_app

    service = make_service({"ram": "32G", "cpu_cores": "8", "gpu": ["RTX 4090"]})
    with TestClient(create_app(service)) as client:
        return client.get(PATH, params=PARAMS).json()


def _serve(answer: dict[str, Any], count: int, ports: Any) -> None:
    """Child process: `count` agents on loopback, each answering every GET with its body."""
    async def main() -> None:
        servers = []
        for index in range(count):
            body = json.dumps({**answer, "node": {"name": f"agent-{index:03d}", "os": "linux"}})
            servers.append(await asyncio.start_server(_responder(body.encode()), "127.0.0.1", 0))
        ports.put([s.sockets[0].getsockname()[1] for s in servers])
        await asyncio.Event().wait()

    asyncio.run(main())


def _responder(body: bytes) -> Any:
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n")

    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while (await reader.readuntil(b"\r\n\r\n")):  # keep-alive: one answer per request
                writer.write(head + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return respond


def poll_once(urls: list[str]) -> tuple[float, dict[str, Any]]:
    from llmfit.fleet import DEFAULT_TIMEOUT_S, fleet_top, read_listing
    from llmfit.fleet_poll import poll

    started = time.perf_counter()
    body = fleet_top(poll(urls, PATH, PARAMS, read_listing, DEFAULT_TIMEOUT_S), 10)
    return time.perf_counter() - started, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    answer = recorded_answer()
    ports: Any = multiprocessing.Queue()
    child = multiprocessing.Process(target=_serve, args=(answer, args.agents, ports), daemon=True)
    child.start()
    try:
        urls = [f"http://127.0.0.1:{port}" for port in ports.get(timeout=60)]
        times = []
        for _ in range(args.runs):
            seconds, body = poll_once(urls)
            down = [n for n in body["nodes"] if n["status"] != "up"]
            if down:
                print(f"down: {down[:3]}", file=sys.stderr)
                return 3
            times.append(seconds)
        command = whole_command(urls)
    finally:
        child.terminate()
    print(f"fleet top over {args.agents} agents ({len(json.dumps(answer)) // 1024} KiB each): "
          f"poll + merge median {statistics.median(times) * 1000:.0f} ms "
          f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, {args.runs} runs); "
          f"whole `python -m llmfit fleet top --json` {command * 1000:.0f} ms")
    return 0


def whole_command(urls: list[str]) -> float:
    """Wall time of the command as a user runs it, interpreter start-up included."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as listing:
        listing.write("\n".join(urls))
        listing.flush()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "llmfit", "fleet", "--nodes-file", listing.name,
                        "top", "--json"], cwd=REPO, check=True, capture_output=True)
        return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
