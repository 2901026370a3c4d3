"""`llmfit fleet`: real `llmfit serve` agents on loopback (one killed, one that never answers),
answers checked against each agent's own API; the pure merges and checks on recorded shapes."""

from __future__ import annotations

import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from kube_server import FakeKube, recorded_pod
from test_serve_process import Serve
from typer.testing import CliRunner

from llmfit import fleet
from llmfit.cli import app
from llmfit.errors import NotFoundError, UsageError
from llmfit.fleet_poll import _read

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

AGENTS = {  # node name: hardware overrides of its `llmfit serve`
    "cpu-small": ("--ram", "16G", "--cpu-cores", "4"),
    "gpu-4090": ("--gpu", "RTX 4090", "--ram", "64G", "--cpu-cores", "16"),
    "mac-m2max": ("--gpu", "M2 Max", "--ram", "32G", "--cpu-cores", "12"),
    "gpu-2x3090": ("--gpu", "2x RTX 3090", "--ram", "128G", "--cpu-cores", "32"),
    "cpu-big": ("--ram", "256G", "--cpu-cores", "64"),
    "gone": ("--ram", "8G", "--cpu-cores", "2"),  # killed once started: connection refused
}
MODEL = "meta-llama/Llama-3.1-8B-Instruct"


@pytest.fixture(scope="module")
def agents():
    """{node name: base URL}, every agent started at once; "gone" is already dead."""
    servers = {name: Serve("--host", "127.0.0.1", "--port", "0", *args, node_name=name)
               for name, args in AGENTS.items()}
    try:
        urls = {name: s.wait_for(r"listening on (http://127\.0\.0\.1:\d+) ").group(1)
                for name, s in servers.items()}
        servers["gone"].kill()
        yield urls
    finally:
        for server in servers.values():
            server.kill()


@pytest.fixture(scope="module")
def silent_url():
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def fleet_cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["fleet", *args])


def fleet_json(urls: dict[str, str], *args: str) -> dict[str, Any]:
    result = fleet_cli("--nodes", ",".join(urls.values()), *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def own_answers(urls: dict[str, str], path: str, params: dict[str, str]) -> dict[str, Any]:
    """What each live agent answers itself: {node name: body}."""
    def get(url: str) -> Any:
        return httpx.get(url + path, params=params, timeout=10).json()

    live = {n: u for n, u in urls.items() if n != "gone"}
    with ThreadPoolExecutor(len(live)) as pool:
        return dict(zip(live, pool.map(get, live.values())))


def expected_nodes(urls: dict[str, str]) -> list[dict[str, Any]]:
    return [{"url": url, "name": None if name == "gone" else name,
             "status": "down" if name == "gone" else "up",
             "error": "cannot connect: connection refused" if name == "gone" else None}
            for name, url in urls.items()]


def placement(name: str, url: str, row: dict[str, Any]) -> dict[str, Any]:
    keys = ("fit_level", "fit_label", "run_mode", "run_mode_label", "best_quant",
            "estimated_tps", "score", "memory_required_gb")
    return {"model": row["name"], "node": name, "url": url, **{k: row[k] for k in keys}}


# --- the three commands over real agents ----------------------------------------------------

def test_fleet_top_is_the_best_rows_of_every_agent_merged(agents):
    body = fleet_json(agents, "top", "--limit", "8", "--use-case", "coding")
    own = own_answers(agents, "/api/v1/models/top",
                      {"limit": "8", "min_fit": "good", "use_case": "coding"})
    rows = [placement(n, agents[n], r) for n, b in own.items() for r in b["models"]]
    rows.sort(key=lambda r: (-r["score"], -r["estimated_tps"], r["model"], r["node"]))
    assert body == {"nodes": expected_nodes(agents), "placements": rows[:8]}
    assert len({r["node"] for r in body["placements"]}) >= 2  # not all from one machine
    assert all(r["fit_level"] in ("perfect", "good") for r in body["placements"])


def test_fleet_where_ranks_nodes_by_their_own_speed_for_the_model(agents):
    body = fleet_json(agents, "where", "Llama-3.1-8B-Instruct")
    own = own_answers(agents, f"/api/v1/models/{MODEL}", {"include_too_tight": "true"})
    rows = [placement(n, agents[n], r) for n, b in own.items() for r in b["models"]
            if r["name"] == MODEL]
    rows.sort(key=lambda r: (-r["estimated_tps"], r["node"]))  # equal speeds: by node name
    assert body == {"nodes": expected_nodes(agents), "model": MODEL, "placements": rows}
    assert [r["node"] for r in rows] == ["gpu-4090", "gpu-2x3090", "mac-m2max", "cpu-big",
                                         "cpu-small"]
    assert [r["run_mode"] for r in rows] == ["gpu", "gpu", "gpu", "cpu_only", "cpu_only"]


def test_fleet_capacity_adds_up_every_agents_system(agents):
    body = fleet_json(agents, "capacity")
    systems = {n: b["system"] for n, b in own_answers(agents, "/api/v1/system", {}).items()}
    totals = body["totals"]
    assert body["nodes"] == expected_nodes(agents)
    assert (totals["nodes_up"], totals["nodes_down"]) == (5, 1)
    assert totals["cpu_cores"] == sum(s["cpu_cores"] for s in systems.values()) == 128
    assert totals["total_ram_gb"] == round(sum(s["total_ram_gb"] for s in systems.values()), 2)
    assert totals["gpu_count"] == sum(s["gpu_count"] for s in systems.values())
    gpu_gb = sum(g["vram_gb"] * g["count"] for s in systems.values() for g in s["gpus"])
    assert totals["gpu_memory_gb"] == round(gpu_gb, 2)
    by_name = {g["name"]: g["count"] for g in totals["gpus"]}
    assert by_name == {"NVIDIA GeForce RTX 3090": 2, "NVIDIA GeForce RTX 4090": 1,
                       "Apple M2 Max": 1}
    assert [r["node"] for r in body["per_node"]] == sorted(n for n in AGENTS if n != "gone")
    two = next(r for r in body["per_node"] if r["node"] == "gpu-2x3090")
    assert (two["gpu_count"], two["cpu_cores"], two["backend"]) == (2, 32, "CUDA")


@pytest.mark.parametrize("command", [("top",), ("where", MODEL), ("capacity",)])
def test_tables_name_the_nodes_and_the_one_that_is_down(agents, command):
    result = fleet_cli("--nodes", ",".join(agents.values()), *command)
    assert result.exit_code == 0, result.output
    assert "5 of 6 nodes answered." in result.stdout
    assert f"down: {agents['gone']}: cannot connect: connection refused" in result.stdout
    assert "gpu-2x3090" in result.stdout


def test_options_after_the_command_and_a_nodes_file(agents, tmp_path):
    listing = tmp_path / "nodes.txt"
    listing.write_text("# the fleet\n" + "\n".join(f"{u}/" for u in agents.values()) + "\n")
    by_file = fleet_cli("capacity", "--nodes-file", str(listing), "--json")
    by_option = fleet_cli("--nodes", ",".join(agents.values()), "capacity", "--json")
    assert by_file.exit_code == by_option.exit_code == 0, by_file.output
    assert json.loads(by_file.stdout) == json.loads(by_option.stdout)


def test_one_down_and_one_silent_node_still_answer_within_a_second(agents, silent_url):
    urls = ",".join([*agents.values(), silent_url])
    started = time.monotonic()
    result = fleet_cli("--nodes", urls, "--timeout", "0.5", "top", "--json")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 1.0
    nodes = json.loads(result.stdout)["nodes"]
    assert nodes[-1] == {"url": silent_url, "name": None, "status": "down",
                         "error": "no answer within 0.5 s"}
    assert sum(n["status"] == "up" for n in nodes) == 5
    started = time.monotonic()  # the default 2 s timeout: a refused node costs nothing
    assert fleet_cli("--nodes", ",".join(agents.values()), "where", MODEL).exit_code == 0
    assert time.monotonic() - started < 1.0


def test_no_node_answering_exits_1_with_the_answer(agents, silent_url):
    result = fleet_cli("--nodes", f"{agents['gone']},{silent_url}", "--timeout", "0.2",
                       "capacity", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["totals"]["nodes_down"] == 2 and body["per_node"] == []


def test_where_an_unknown_or_ambiguous_model(agents):
    urls = ",".join(agents.values())
    unknown = fleet_cli("--nodes", urls, "where", "no-such-model-xyz")
    assert unknown.exit_code == 1
    assert "no node knows a model matching 'no-such-model-xyz'" in unknown.output
    several = fleet_cli("--nodes", urls, "where", "Llama-3.1")
    assert several.exit_code == 2 and "matches several models" in several.output


# --- --k8s: the agents are the DaemonSet's running pods --------------------------------------

def test_k8s_finds_the_running_pods_of_the_daemonset(agents, tmp_path, monkeypatch):
    ports = {name: int(url.rsplit(":", 1)[1]) for name, url in agents.items()}
    with FakeKube(tmp_path) as kube:
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
        kube.pods = [recorded_pod(f"llmfit-{n}", n, "127.0.0.1", p) for n, p in ports.items()]
        kube.pods += [recorded_pod("llmfit-pending", "node-new", None, 8787, phase="Pending"),
                      recorded_pod("llmfit-other", "n", "127.0.0.1", 1, namespace="default")]
        body = json.loads(fleet_cli("--k8s", "capacity", "--json").stdout)
        (request,) = kube.requests
    assert request["path"] == ("/api/v1/namespaces/llmfit/pods?labelSelector="
                               "app.kubernetes.io/name%3Dllmfit")
    assert body["nodes"] == sorted(expected_nodes(agents), key=lambda n: n["url"])
    assert body["totals"]["nodes_up"] == 5


def test_k8s_errors_are_one_line(tmp_path, monkeypatch):
    with FakeKube(tmp_path) as kube:
        monkeypatch.setenv("KUBECONFIG", str(kube.kubeconfig))
        empty = fleet_cli("--k8s", "--namespace", "elsewhere", "top")
    assert empty.exit_code == 2
    assert "no running pods match 'app.kubernetes.io/name=llmfit' in namespace 'elsewhere'" in (
        empty.output)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    unconfigured = fleet_cli("--k8s", "top")
    assert unconfigured.exit_code == 2 and "no Kubernetes configuration" in unconfigured.output


# --- input checks: exit 2, one clear line, nothing polled -----------------------------------

@pytest.mark.parametrize("args, message", [
    (("--nodes", "ftp://host:21", "top"), "invalid node URL 'ftp://host:21': use http:// or https://"),
    (("--nodes", "10.0.0.5:8787", "top"), "use http:// or https://"),
    (("--nodes", "http://", "top"), "invalid node URL 'http://'"),
    (("--nodes", "http://h:99999", "top"), "invalid node URL 'http://h:99999'"),
    (("--nodes", "http://user@h:1", "top"), "no user, query, fragment or port 0"),
    (("--nodes", "http://h:1/?x=1", "top"), "no user, query, fragment or port 0"),
    (("--nodes", "http://h :1", "top"), "invalid node URL"),
    (("top",), "no nodes: give --nodes URL,URL..., --nodes-file PATH or --k8s"),
    (("--nodes", " , ", "top"), "no nodes"),
    (("--nodes-file", "/no/such/file", "top"), "cannot read --nodes-file '/no/such/file'"),
    (("--nodes", "http://h:1", "top", "--min-fit", "great"), "invalid min_fit value"),
    (("--nodes", "http://h:1", "top", "--limit", "0"), "--limit"),
    (("--nodes", "http://h:1", "where", " "), "MODEL is empty"),
])
def test_bad_input_is_a_usage_error(args, message):
    result = fleet_cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_node_urls_are_normalized_deduplicated_and_capped():
    assert fleet.parse_node_urls(["HTTP://Node-A:8787/, http://node-a:8787",
                                  "https://[::1]:8443/llmfit/", "# comment"]) == (
        "http://node-a:8787", "https://[::1]:8443/llmfit")
    many = [f"http://10.0.{i // 256}.{i % 256}:8787" for i in range(fleet.MAX_NODES + 1)]
    assert len(fleet.parse_node_urls(many[:-1])) == fleet.MAX_NODES
    with pytest.raises(UsageError, match="too many nodes: at most 1,000"):
        fleet.parse_node_urls(many)


# --- the pure parts: checks on what an agent sent, and the merges ---------------------------

def row(name: str, score: float, tps: float | None, fit: str = "good") -> dict[str, Any]:
    return {"name": name, "fit_level": fit, "fit_label": fit.title(), "run_mode": "gpu",
            "run_mode_label": "GPU", "score": score, "estimated_tps": tps,
            "memory_required_gb": 5.0, "best_quant": "Q4_K_M"}


def listing(node: str, *rows: dict[str, Any]) -> bytes:
    return json.dumps({"node": {"name": node, "os": "linux"}, "models": list(rows)}).encode()


@pytest.mark.parametrize("status, raw, error", [
    (500, b'{"error": "internal error"}', "HTTP 500: internal error"),
    (404, b"<html>not found</html>", "HTTP 404: the answer is not JSON (an llmfit agent?)"),
    (200, b"[1, 2]", "unexpected answer: the answer is not a JSON object"),
    (200, None, "HTTP 200: the answer is larger than 16 MiB"),
    (200, b"[" * 200_000, "HTTP 200: the answer is not JSON (an llmfit agent?)"),
    (200, b'{"node": {"name": "n"}, "models": [{"name": "m"}]}',
     "unexpected answer: a model row has no text fit_level"),
    (200, listing("n", {**row("m", 50, 10), "score": "high"}),
     "unexpected answer: a model row has no number score"),
    (200, listing("n", {**row("m", 50, 10), "estimated_tps": float("nan")}),
     "unexpected answer: a model row's estimated_tps is not a number"),
])
def test_an_off_contract_agent_counts_as_down_with_the_reason(status, raw, error):
    assert _read("http://n:1", status, raw, fleet.read_listing) == fleet.NodeAnswer(
        "http://n:1", error=error)


def test_top_ranks_by_score_then_speed_and_where_puts_too_tight_last():
    a = fleet.NodeAnswer("http://a:1", "a", [row("x/m1", 80, 10), row("x/m2", 70, None)])
    b = fleet.NodeAnswer("http://b:1", "b", [row("x/m1", 80, 30), row("x/m2", 70, 5)])
    down = fleet.NodeAnswer("http://c:1", error="cannot connect: connection refused")
    top = fleet.fleet_top([a, b, down], 3)
    assert [(r["model"], r["node"]) for r in top["placements"]] == [
        ("x/m1", "b"), ("x/m1", "a"), ("x/m2", "b")]
    assert top["nodes"][2] == {"url": "http://c:1", "name": None, "status": "down",
                               "error": "cannot connect: connection refused"}
    c = fleet.NodeAnswer("http://c:1", "c", [row("x/m1", 10, 99, "too_tight")])
    where = fleet.fleet_where([a, b, c], "M1")
    assert where["model"] == "x/m1"
    assert [r["node"] for r in where["placements"]] == ["b", "a", "c"]


def test_model_names_resolve_to_one_repo_id():
    names = {"meta-llama/Llama-3.1-8B-Instruct", "NousResearch/Hermes-3-Llama-3.1-8B"}
    assert fleet.resolve_model("llama-3.1-8b-instruct", names) == "meta-llama/Llama-3.1-8B-Instruct"
    assert fleet.resolve_model("hermes", {"NousResearch/Hermes-3-Llama-3.1-8B"}) == (
        "NousResearch/Hermes-3-Llama-3.1-8B")
    assert fleet.resolve_model("nothing", set()) is None
    with pytest.raises(UsageError, match="matches several models"):
        fleet.resolve_model("llama", names)
    with pytest.raises(NotFoundError):
        fleet.fleet_where([fleet.NodeAnswer("http://a:1", "a", [])], "llama")
