"""`python -m llmfit serve` as a real process: TCP and unix socket, overrides, clean SIGINT stop."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
START_S = 60.0  # generous: a cold interpreter on a busy CI runner
STOP_S = 10.0
OVERRIDES = ("--ram", "16G", "--cpu-cores", "4")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT and unix sockets")


class Serve:
    """One `llmfit serve` process whose output is read line by line in the background."""

    def __init__(self, *args: str, node_name: str = "proc-node") -> None:
        env = {**os.environ, "NODE_NAME": node_name,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
        env.pop("OLLAMA_CONTEXT_LENGTH", None)
        env.pop("LLMFIT_CATALOG", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "llmfit", "serve", *args], cwd=REPO,
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.output: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(self, pattern: str, timeout_s: float = START_S) -> re.Match[str]:
        """The first output line matching `pattern`, or fail with all the output seen."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        pytest.fail(f"no line matching {pattern!r}; output:\n{''.join(self.output)}")

    def wait_exit(self, timeout_s: float = STOP_S) -> int:
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running after {timeout_s} s; output:\n{''.join(self.output)}")

    def rest_of_output(self) -> str:
        while True:
            try:
                line = self._lines.get(timeout=STOP_S)
            except queue.Empty:
                break
            if line is None:
                break
            self.output.append(line)
        return "".join(self.output)

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.wait_exit()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def serve():
    started: list[Serve] = []

    def start(*args: str) -> Serve:
        server = Serve(*args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def wait_healthy(client: httpx.Client) -> dict:
    """Poll /health until it answers 200, with a deadline."""
    deadline = time.monotonic() + START_S
    while True:
        try:
            response = client.get("/health")
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def check_answers(client: httpx.Client) -> None:
    """What a scheduler asks, answered for the overridden machine."""
    assert wait_healthy(client)["node"]["name"] == "proc-node"
    system = client.get("/api/v1/system").json()["system"]
    assert (system["total_ram_gb"], system["available_ram_gb"], system["cpu_cores"]) == (16.0, 16.0, 4)
    top = client.get("/api/v1/models/top", params={"limit": 3, "min_fit": "good"})
    assert top.status_code == 200 and top.headers["content-type"] == "application/json"
    body = top.json()
    assert body["returned_models"] == len(body["models"]) == 3
    assert body["system"]["cpu_cores"] == 4
    assert all(r["fit_level"] in ("good", "perfect") for r in body["models"])
    bad = client.get("/api/v1/models", params={"limit": "abc"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("invalid limit value")
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"


def test_serves_on_a_free_loopback_port_and_stops_on_sigint(serve):
    server = serve("--host", "127.0.0.1", "--port", "0", *OVERRIDES)
    base = server.wait_for(r"listening on (http://127\.0\.0\.1:\d+) ").group(1)
    with httpx.Client(base_url=base, timeout=10) as client:
        check_answers(client)
    assert server.interrupt() == 0
    assert "llmfit serve: stopped" in server.rest_of_output()


def test_serves_on_a_unix_socket_replacing_a_stale_one(serve, tmp_path):
    path = tmp_path / "llmfit.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a killed server leaves behind
    assert stat.S_ISSOCK(path.lstat().st_mode)

    server = serve("--unix-socket", str(path), *OVERRIDES)
    server.wait_for(rf"listening on unix:{re.escape(str(path))} ")
    assert stat.S_IMODE(path.stat().st_mode) == 0o660
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://llmfit",
                      timeout=10) as client:
        check_answers(client)

        second = serve("--unix-socket", str(path), *OVERRIDES)  # the socket is live: refuse
        assert second.wait_exit(START_S) == 2
        assert "another server is listening there" in second.rest_of_output()
        assert client.get("/health").status_code == 200

    assert server.interrupt() == 0
    assert "llmfit serve: stopped" in server.rest_of_output()
    assert not path.exists()  # removed on a clean stop


def test_sigterm_stops_cleanly_and_removes_the_socket(serve, tmp_path):
    path = tmp_path / "llmfit.sock"
    server = serve("--unix-socket", str(path), *OVERRIDES)
    server.wait_for(r"listening on unix:")
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path)), base_url="http://llmfit",
                      timeout=10) as client:
        health = wait_healthy(client)
        assert health["status"] == "ok", health
    server.proc.send_signal(signal.SIGTERM)  # how Kubernetes stops a pod
    assert server.wait_exit() == 0
    assert "llmfit serve: stopped" in server.rest_of_output()
    assert not path.exists()


@pytest.mark.parametrize("extra", [("--port", "8787"), ("--host", "127.0.0.1")])
def test_unix_socket_with_host_or_port_is_a_usage_error(serve, tmp_path, extra):
    server = serve("--unix-socket", str(tmp_path / "s.sock"), *extra)
    assert server.wait_exit(START_S) == 2
    assert "--unix-socket cannot be combined with --host or --port" in server.rest_of_output()
    assert not (tmp_path / "s.sock").exists()


def test_a_file_in_the_way_of_the_socket_is_left_alone(serve, tmp_path):
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    server = serve("--unix-socket", str(path), *OVERRIDES)
    assert server.wait_exit(START_S) == 2
    assert "a file that is not a socket is in the way" in server.rest_of_output()
    assert path.read_text() == "keep me"


def test_a_port_in_use_is_a_usage_error(serve):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = serve("--host", "127.0.0.1", "--port", str(port), *OVERRIDES)
        assert server.wait_exit(START_S) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in server.rest_of_output()


def test_stopping_leaves_a_newer_servers_socket_alone(serve, tmp_path):
    """Only the socket this process created is removed: not one put there after it."""
    path = tmp_path / "llmfit.sock"
    server = serve("--unix-socket", str(path), *OVERRIDES)
    server.wait_for(r"listening on unix:")
    path.unlink()  # e.g. an operator's script; then a newer server takes the path
    newer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    newer.bind(str(path))
    newer.listen()
    try:
        assert server.interrupt() == 0
        assert stat.S_ISSOCK(path.lstat().st_mode)  # the newer socket is still there
    finally:
        newer.close()


def test_stopping_leaves_a_symlink_put_at_the_path_alone(serve, tmp_path):
    path, target = tmp_path / "llmfit.sock", tmp_path / "precious"
    target.write_text("keep me")
    server = serve("--unix-socket", str(path), *OVERRIDES)
    server.wait_for(r"listening on unix:")
    path.unlink()
    path.symlink_to(target)
    assert server.interrupt() == 0
    assert path.is_symlink() and target.read_text() == "keep me"


def test_a_hung_gpu_driver_neither_blocks_serving_nor_stopping(serve, tmp_path, monkeypatch):
    fake = tmp_path / "fake-nvml"
    fake.mkdir()
    (fake / "pynvml.py").write_text("import time\n\ndef nvmlInit():\n    time.sleep(3600)\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("LLMFIT_PROBE_TIMEOUT", "1")
    server = serve("--port", "0", "--refresh", "0.5")
    base = server.wait_for(r"listening on (http://\S+)").group(1)
    with httpx.Client(base_url=base, timeout=10) as client:
        wait_healthy(client)
        started = time.monotonic()
        health = client.get("/health").json()
        assert time.monotonic() - started < 1.0  # answered at once, not after the probe
        assert health["status"] == "degraded" and "TimeoutError" in health["probe_error"]
        assert client.get("/api/v1/models/top").status_code == 200
    server.proc.send_signal(signal.SIGTERM)  # while probe threads hang in the driver
    assert server.wait_exit() == 0


def test_idle_and_slow_header_clients_do_not_lock_others_out(serve, monkeypatch):
    monkeypatch.setenv("LLMFIT_HEADER_TIMEOUT", "1")
    server = serve("--port", "0", *OVERRIDES)
    base = server.wait_for(r"listening on (http://\S+)").group(1)
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with httpx.Client(base_url=base, timeout=10) as client:
        wait_healthy(client)
        idle = [socket.create_connection((host, int(port))) for _ in range(300)]
        slow = socket.create_connection((host, int(port)))
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the rest
        try:
            assert client.get("/health").status_code == 200  # served beside 301 idle sockets
            time.sleep(2.5)  # past the header deadline
            closed = 0
            for sock in idle + [slow]:
                sock.settimeout(2)
                try:
                    closed += sock.recv(1) == b""
                except OSError:
                    closed += 1
            assert closed == len(idle) + 1
            assert client.get("/health").status_code == 200
        finally:
            for sock in idle + [slow]:
                sock.close()
    assert server.interrupt() == 0


def test_health_stays_fast_under_a_what_if_flood(serve):
    """Uncached what-if analyses run off the event loop: /health p99 stays under 50 ms."""
    import asyncio

    server = serve("--port", "0", *OVERRIDES)
    base = server.wait_for(r"listening on (http://\S+)").group(1)
    with httpx.Client(base_url=base, timeout=10) as client:
        wait_healthy(client)

    async def flood(client: httpx.AsyncClient, stop: asyncio.Event, offset: int) -> int:
        done = 0
        while not stop.is_set():
            done += 1
            await client.get(f"/api/v1/models/top?ram_gb={8 + offset + done * 0.01:.2f}")
        return done

    async def measure() -> tuple[list[float], int]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c, \
                httpx.AsyncClient(base_url=base, timeout=10) as h:
            stop = asyncio.Event()
            tasks = [asyncio.create_task(flood(c, stop, i)) for i in range(6)]
            await asyncio.sleep(0.3)
            latencies = []
            for _ in range(150):
                started = time.perf_counter()
                assert (await h.get("/health")).status_code == 200
                latencies.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.01)
            stop.set()
            return latencies, sum(await asyncio.gather(*tasks))

    latencies, flooded = asyncio.run(measure())
    latencies.sort()
    assert flooded >= 6  # the what-if requests were really being computed meanwhile
    assert latencies[int(len(latencies) * 0.99) - 1] < 50, latencies[-5:]
    assert server.interrupt() == 0


FAKE_NVML = """\
class _Memory:
    def __init__(self, total, free):
        self.total, self.free = total, free

nan, inf = float("nan"), float("inf")
READINGS = {readings!r}

def nvmlInit():
    if READINGS is None:
        raise RuntimeError("Driver Not Loaded")
def nvmlShutdown(): pass
def nvmlDeviceGetCount(): return len(READINGS)
def nvmlDeviceGetHandleByIndex(index): return index
def nvmlDeviceGetName(handle): return b"NVIDIA GeForce RTX 4090\\x1b[31m"
def nvmlDeviceGetMemoryInfo(handle):
    total, free = READINGS[handle]
    return _Memory(float(total), float(free))
"""
GIB_F = float(2**30)


def _fake_driver(tmp_path: Path, monkeypatch, readings, smi: str | None) -> None:
    """A fake `pynvml` on PYTHONPATH (None: NVML fails) and optionally a fake `nvidia-smi` on PATH."""
    fake = tmp_path / "fake-driver"
    fake.mkdir()
    (fake / "pynvml.py").write_text(FAKE_NVML.format(readings=readings))
    monkeypatch.setenv("PYTHONPATH", str(fake))
    if smi is not None:
        script = fake / "nvidia-smi"
        script.write_text("#!/bin/sh\n" + smi + "\n")
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(("readings", "smi", "note"), [
    ([(float("nan"), 20 * GIB_F)], None, "reported VRAM nan; ignored"),
    ([(float("inf"), float("-inf"))], None, "reported VRAM inf; ignored"),
    ([(24 * GIB_F, -5 * GIB_F)], None, "reported free VRAM -5.0; ignored"),
    ([(24 * GIB_F, 48 * GIB_F)], None, "exceeds the total 24 GiB"),
    (None, "echo 'NVIDIA GeForce RTX 4090, NaN, inf'", "reported VRAM nan; ignored"),
    (None, "printf '\\377\\376garbage without commas\\n\\n,,,\\n'", "nvidia-smi: none"),
    (None, "sleep 30", "timed out"),
], ids=["nan-total", "inf", "negative-free", "free-over-total", "smi-nan", "smi-garbage",
        "smi-hangs"])
def test_odd_driver_readings_are_dropped_with_a_note(serve, tmp_path, monkeypatch, readings,
                                                      smi, note):
    """Whatever the driver says, every endpoint answers 200, the oddity is a note, and a 24 GB
    card (or an unknown one) is never told a 671B model runs on it."""
    _fake_driver(tmp_path, monkeypatch, readings, smi)
    server = serve("--port", "0", "--ram", "32G")
    base = server.wait_for(r"listening on (http://\S+)").group(1)
    with httpx.Client(base_url=base, timeout=10) as client:
        health = wait_healthy(client)
        assert health["status"] == "ok", health
        system = client.get("/api/v1/system")
        assert system.status_code == 200
        assert any(note in line for line in system.json()["system"]["notes"]), system.json()
        for path in ("/api/v1/models", "/api/v1/models/top", "/api/v1/models/DeepSeek-V3"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text)
        for row in client.get("/api/v1/models/DeepSeek-V3").json()["models"]:
            if row["name"] == "deepseek-ai/DeepSeek-V3":
                assert row["fit_level"] == "too_tight", row
    assert server.interrupt() == 0
