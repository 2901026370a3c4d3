"""A real Prometheus server scrapes a real `llmfit serve` on loopback; PromQL sees the series.

Runs where the `prometheus` binary is on PATH (.ci/run installs Debian's `prometheus` package).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from test_serve_process import Serve, serve, wait_healthy  # noqa: F401 - `serve` is a fixture

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="the `prometheus` binary is not on PATH: install the Debian "
    "package `prometheus` (.ci/run does) to scrape llmfit serve with a real Prometheus")
DEADLINE_S = 60.0
GIB = 2**30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen, str]:
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""\
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: llmfit
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["{target}"]
""")
    port = _free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([PROMETHEUS or "prometheus", f"--config.file={config}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _query(client: httpx.Client, promql: str) -> list[dict]:
    """The instant vector PromQL answers (empty while nothing has been scraped yet)."""
    try:
        response = client.get("/api/v1/query", params={"query": promql})
    except httpx.TransportError:
        return []
    if response.status_code != 200:
        return []
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait_for(client: httpx.Client, promql: str, log: Path) -> list[dict]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        result = _query(client, promql)
        if result:
            return result
        time.sleep(0.25)
    pytest.fail(f"no answer to {promql!r}; prometheus log:\n{log.read_text()[-4000:]}")


def test_prometheus_scrapes_llmfit_serve(serve, tmp_path, catalog):  # noqa: F811
    server = serve("--port", "0", "--ram", "16G", "--cpu-cores", "4", "--metrics-top", "3")
    base = server.wait_for(r"listening on (http://\S+)").group(1)
    with httpx.Client(base_url=base, timeout=10) as agent:
        wait_healthy(agent)
        top = agent.get("/api/v1/models/top", params={"limit": 3}).json()["models"]
    proc, prom_url = _start_prometheus(tmp_path, base.removeprefix("http://"))
    log = tmp_path / "prometheus.log"
    try:
        with httpx.Client(base_url=prom_url, timeout=5) as prom:
            up = _wait_for(prom, 'up{job="llmfit"} == 1', log)
            assert up[0]["metric"]["instance"] == base.removeprefix("http://")
            ram = _wait_for(prom, 'llmfit_ram_total_bytes{job="llmfit"}', log)
            assert float(ram[0]["value"][1]) == 16 * GIB
            assert float(_wait_for(prom, "llmfit_cpu_cores", log)[0]["value"][1]) == 4
            info = _wait_for(prom, 'llmfit_node_info{node="proc-node"}', log)
            assert info[0]["metric"]["backend"] in ("CPU (x86)", "CPU (ARM)")
            total = _wait_for(prom, "sum(llmfit_models)", log)
            assert float(total[0]["value"][1]) == len(catalog)
            ranked = _wait_for(prom, "llmfit_top_model_estimated_tps", log)
            by_rank = {int(r["metric"]["rank"]): r for r in ranked}
            assert sorted(by_rank) == [1, 2, 3]
            for rank, row in enumerate(top, start=1):
                assert by_rank[rank]["metric"]["model"] == row["name"]
                assert float(by_rank[rank]["value"][1]) == row["estimated_tps"]
            # The join docs/api.md shows: the best speed per node name.
            best = _wait_for(prom, 'max by (node) (llmfit_top_model_estimated_tps{rank="1"} '
                                   '* on (instance) group_left(node) llmfit_node_info)', log)
            assert [(b["metric"], float(b["value"][1])) for b in best] == [
                ({"node": "proc-node"}, top[0]["estimated_tps"])]
            # Prometheus's own scrapes are counted under the /metrics route.
            scrapes = _wait_for(prom, 'llmfit_http_requests_total{route="/metrics",'
                                      'method="GET",status="200"} >= 1', log)
            assert len(scrapes) == 1
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert server.interrupt() == 0
