"""Local runtimes: probes against fake servers on loopback and real folder trees in tmp dirs,
matching to catalog rows, `llmfit runtimes|installed`, /api/v1/runtimes|installed, --installed."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

import pytest
from conftest import CLOSED_HOST, cpu_box
from runtime_server import FakeRuntime, HungRuntime, recorded

from llmfit.runtimes import llamacpp, lmstudio, ollama, vllm
from llmfit.runtimes.naming import gguf_quant, mlx_quant
from llmfit.runtimes.probe import probe_all
from llmfit.runtimes.values import (Findings, InstalledModel, ProbeContext, RuntimeReport,
                                    RuntimeStatus)
from llmfit.runtimes.wire import parse_host
from llmfit.server import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

GIB = 2**30


# --- recorded trees ---------------------------------------------------------------------------


def sparse(path: Path, size: int, text: str | None = None) -> Path:
    """A file of `size` bytes that takes no disk space (or `text`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if text is not None:
        path.write_text(text)
    else:
        with open(path, "wb") as f:
            f.truncate(size)
    return path


def ollama_tree(root: Path) -> None:
    """Two pulled models: a library tag with its config blob, a Hub GGUF without one."""
    config = "sha256:" + "c" * 64
    layers = [{"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + "a" * 64,
               "size": 4683073184},
              {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "b" * 64,
               "size": 1482}]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                           "digest": config, "size": 487}, "layers": layers}
    sparse(root / "manifests/registry.ollama.ai/library/qwen2.5/7b", 0, json.dumps(manifest))
    sparse(root / "blobs" / config.replace(":", "-"), 0, json.dumps(
        {"model_format": "gguf", "model_family": "qwen2", "model_type": "7.6B",
         "file_type": "Q4_K_M", "architecture": "amd64", "os": "linux"}))
    hub = dict(manifest, config={"digest": "sha256:" + "d" * 64}, layers=[dict(layers[0], size=2019377696)])
    sparse(root / "manifests/hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF/Q4_K_M", 0, json.dumps(hub))


def llama_cache(folder: Path) -> None:
    """What `llama-server -hf` leaves: a manifest and its file, a split file, a projector."""
    sparse(folder / "manifest=Qwen=Qwen2.5-7B-Instruct-GGUF=q4_k_m.json", 0, json.dumps(
        {"ggufFile": {"rfilename": "qwen2.5-7b-instruct-q4_k_m.gguf", "size": 4683073536}}))
    sparse(folder / "Qwen_Qwen2.5-7B-Instruct-GGUF_qwen2.5-7b-instruct-q4_k_m.gguf", 4683073536)
    sparse(folder / "unsloth_Qwen3-8B-GGUF_Qwen3-8B-Q8_0-00001-of-00002.gguf", 5 * GIB)
    sparse(folder / "unsloth_Qwen3-8B-GGUF_Qwen3-8B-Q8_0-00002-of-00002.gguf", 3 * GIB)
    sparse(folder / "unsloth_gemma-3-4b-it-GGUF_mmproj-F16.gguf", 800_000_000)


def lmstudio_models(home: Path) -> None:
    """A GGUF model and an MLX model in ~/.lmstudio/models."""
    models = home / ".lmstudio" / "models"
    sparse(models / "lmstudio-community/Mistral-7B-Instruct-v0.3-GGUF/Mistral-7B-Instruct-v0.3-Q4_K_M.gguf",
           4372811936)
    mlx = models / "mlx-community" / "Qwen2.5-7B-Instruct-4bit"
    sparse(mlx / "config.json", 0, json.dumps({"model_type": "qwen2",
                                               "quantization": {"group_size": 64, "bits": 4}}))
    sparse(mlx / "model.safetensors", 4 * GIB)


def hf_cache(hub: Path) -> None:
    """A Hugging Face cache (blobs, refs/main, snapshots with links) with an MLX model and a
    plain Transformers model."""
    for repo, size in (("mlx-community/Llama-3.2-3B-Instruct-4bit", 1_800_000_000),
                       ("Qwen/Qwen2.5-0.5B-Instruct", 988_097_824)):
        folder = hub / ("models--" + repo.replace("/", "--"))
        revision = "e" * 40
        sparse(folder / "refs" / "main", 0, revision)
        for name, blob, blob_size in (("config.json", "1" * 64, 0), ("model.safetensors", "2" * 64, size)):
            blob_path = sparse(folder / "blobs" / blob, blob_size, "{}" if name == "config.json" else None)
            link = folder / "snapshots" / revision / name
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob_path, link.parent), link)


def fake_bin(folder: Path, name: str, output: str) -> None:
    script = folder / name
    sparse(script, 0, f"#!/bin/sh\necho '{output}' >&2\n")
    script.chmod(0o755)


# --- pure parsers on recorded answers --------------------------------------------------------


def test_ollama_answers_are_parsed():
    loaded = ollama.parse_ps(recorded("ollama_ps.json"))
    assert loaded == frozenset({"qwen3:8b"})
    assert ollama.parse_version(recorded("ollama_version.json")) == "0.6.8"
    assert ollama.parse_tags(recorded("ollama_tags.json"), loaded) == [
        InstalledModel("ollama", "qwen3:8b", "Q4_K_M", 5225388164, True),
        InstalledModel("ollama", "llama3.1:8b-instruct-q8_0", "Q8_0", 8540789150),
        InstalledModel("ollama", "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M", "Q4_K_M",
                       2019377696, repo="bartowski/Llama-3.2-3B-Instruct-GGUF"),
        InstalledModel("ollama", "my-finetune:latest", "F16", 1000000000)]
    assert ollama.parse_tags({"models": "nope"}) == [] and ollama.parse_version([]) is None


def test_llama_server_answers_are_parsed():
    version, path = llamacpp.parse_props(recorded("llama_props.json"))
    assert version == "b5412"
    assert path == "/home/user/.cache/llama.cpp/Qwen_Qwen2.5-7B-Instruct-GGUF_qwen2.5-7b-instruct-q4_k_m.gguf"
    assert llamacpp.parse_models(recorded("llama_models.json"), path) == [InstalledModel(
        "llamacpp", "Qwen_Qwen2.5-7B-Instruct-GGUF_qwen2.5-7b-instruct-q4_k_m.gguf", "Q4_K_M",
        4677120000, True)]
    assert llamacpp.parse_version_output("version: 5412 (2d451c80)\nbuilt with cc") == "b5412"


def test_lmstudio_and_vllm_answers_are_parsed():
    assert lmstudio.parse_api_models(recorded("lmstudio_models.json")) == [
        InstalledModel("lmstudio", "mistral-7b-instruct-v0.3", "Q4_K_M", loaded=True),
        InstalledModel("lmstudio", "text-embedding-nomic-embed-text-v1.5", "Q4_K_M")]
    assert vllm.parse_served(recorded("vllm_models.json")) == [InstalledModel(
        "vllm", "Qwen/Qwen2.5-7B-Instruct-AWQ", "AWQ", loaded=True,
        repo="Qwen/Qwen2.5-7B-Instruct-AWQ")]


@pytest.mark.parametrize("raw, url", [
    (None, "http://127.0.0.1:11434"), ("", "http://127.0.0.1:11434"),
    ("0.0.0.0", "http://0.0.0.0:11434"), ("gpu-box:9000", "http://gpu-box:9000"),
    (":11500", "http://127.0.0.1:11500"), ("https://ollama.example.com", "https://ollama.example.com:443"),
    ("http://10.0.0.5:11434/", "http://10.0.0.5:11434"), ("[::1]:11434", "http://[::1]:11434")])
def test_host_variables_are_read_like_the_runtimes_do(raw, url):
    assert parse_host(raw, "127.0.0.1:11434") == url


@pytest.mark.parametrize("raw", ["ftp://host", "host:port", "http://host:99999"])
def test_unusable_host_variables_are_refused(raw):
    with pytest.raises(ValueError):
        parse_host(raw, "127.0.0.1:11434")


@pytest.mark.parametrize("name, quant", [
    ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Q4_K_M"), ("qwen2.5-7b-instruct-q4_k_m.gguf", "Q4_K_M"),
    ("Llama-3.2-1B-Instruct-IQ4_XS.gguf", "IQ4_XS"), ("gemma-3-4b-it-BF16.gguf", "BF16"),
    ("model.Q8_0.gguf", "Q8_0"), ("Qwen3-8B-UD-Q5_K_XL.gguf", "Q5_K_XL"), ("model.gguf", None)])
def test_quant_is_read_from_gguf_names(name, quant):
    assert gguf_quant(name) == quant


def test_quant_is_read_from_mlx_names():
    assert mlx_quant("mlx-community/Qwen2.5-7B-Instruct-4bit") == "mlx-4bit"
    assert mlx_quant("mlx-community/Llama-3.2-3B-Instruct-bf16") == "mlx-bf16"
    assert mlx_quant("mlx-community/Qwen3-8B") is None


# --- folder probes ----------------------------------------------------------------------------


def context(tmp_path: Path, **env: str) -> ProbeContext:
    hosts = {k: CLOSED_HOST for k in ("OLLAMA_HOST", "LMSTUDIO_HOST", "LLAMA_SERVER_HOST",
                                      "VLLM_HOST", "MODEL_RUNNER_HOST")}
    return ProbeContext(env={**hosts, **env}, home=tmp_path / "home", which=lambda name: None,
                        version_of=lambda name: None)


def test_ollama_manifests_are_read_when_the_server_is_down(tmp_path):
    ollama_tree(tmp_path / "models")
    found = ollama.probe(context(tmp_path, OLLAMA_MODELS=str(tmp_path / "models")))
    assert found.status == RuntimeStatus("ollama", installed=True)
    assert found.models == (
        InstalledModel("ollama", "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M", None,
                       2019377696, repo="bartowski/Llama-3.2-3B-Instruct-GGUF"),
        InstalledModel("ollama", "qwen2.5:7b", "Q4_K_M", 4683074666))
    assert found.warnings == (f"ollama: no server at http://{CLOSED_HOST} (Connection refused); "
                              "pulled models read from its manifest folder",)


def test_llama_cpp_cache_files_are_listed_once_each(tmp_path):
    llama_cache(tmp_path / "cache")
    assert llamacpp.scan_gguf_files(tmp_path / "cache") == [
        InstalledModel("llamacpp", "Qwen_Qwen2.5-7B-Instruct-GGUF_qwen2.5-7b-instruct-q4_k_m.gguf",
                       "Q4_K_M", 4683073536, repo="Qwen/Qwen2.5-7B-Instruct-GGUF"),
        InstalledModel("llamacpp", "unsloth_Qwen3-8B-GGUF_Qwen3-8B-Q8_0.gguf", "Q8_0", 8 * GIB)]


def test_lmstudio_folder_lists_gguf_files_and_mlx_models(tmp_path):
    lmstudio_models(tmp_path / "home")
    found = lmstudio.probe(context(tmp_path))
    assert found.status == RuntimeStatus("lmstudio", installed=True)
    assert found.models == (
        InstalledModel("lmstudio", "lmstudio-community/Mistral-7B-Instruct-v0.3-GGUF/"
                       "Mistral-7B-Instruct-v0.3-Q4_K_M.gguf", "Q4_K_M", 4372811936,
                       repo="lmstudio-community/Mistral-7B-Instruct-v0.3-GGUF"),
        InstalledModel("lmstudio", "mlx-community/Qwen2.5-7B-Instruct-4bit", "mlx-4bit", 4 * GIB,
                       repo="mlx-community/Qwen2.5-7B-Instruct-4bit"))


def test_mlx_models_are_found_in_the_hugging_face_cache(tmp_path):
    hf_cache(tmp_path / "hf" / "hub")
    from llmfit.runtimes import mlx

    found = mlx.probe(context(tmp_path, HF_HOME=str(tmp_path / "hf")))
    assert found.status == RuntimeStatus("mlx", installed=True)
    assert found.models == (InstalledModel("mlx", "mlx-community/Llama-3.2-3B-Instruct-4bit",
                                           "mlx-4bit", 1_800_000_002,
                                           repo="mlx-community/Llama-3.2-3B-Instruct-4bit"),)


# --- every runtime at once, through the CLI and the API -------------------------------------


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Every runtime present: fake servers on loopback, folders in the test's home."""
    home = Path(os.environ["HOME"])
    ollama_tree(tmp_path / "ollama-models")  # read only if the server were down
    llama_cache(Path(os.environ["LLAMA_CACHE"]))
    lmstudio_models(home)
    hf_cache(Path(os.environ["HF_HOME"]) / "hub")
    bin_dir = tmp_path / "bin"
    fake_bin(bin_dir, "llama-server", "version: 5412 (2d451c80)")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr("llmfit.runtimes.values.package_version",
                        lambda name: {"mlx-lm": "0.24.0"}.get(name))
    fakes = {
        "OLLAMA_HOST": FakeRuntime({"/api/version": recorded("ollama_version.json"),
                                    "/api/tags": recorded("ollama_tags.json"),
                                    "/api/ps": recorded("ollama_ps.json")}),
        "LLAMA_SERVER_HOST": FakeRuntime({"/props": recorded("llama_props.json"),
                                          "/v1/models": recorded("llama_models.json")}),
        "LMSTUDIO_HOST": FakeRuntime({"/api/v0/models": recorded("lmstudio_models.json")}),
        "VLLM_HOST": FakeRuntime({"/v1/models": recorded("vllm_models.json"),
                                  "/version": recorded("vllm_version.json")}),
        "MODEL_RUNNER_HOST": FakeRuntime({"/engines/v1/models": recorded("docker_models.json")}),
    }
    for name, fake in fakes.items():
        monkeypatch.setenv(name, fake.__enter__().host)
    yield {name: f"http://{fake.host}" for name, fake in fakes.items()}
    for fake in fakes.values():
        fake.__exit__(None, None, None)


def expected_runtimes(urls):
    return {"runtimes": [
        {"name": "ollama", "installed": True, "running": True, "version": "0.6.8",
         "endpoint": urls["OLLAMA_HOST"]},
        {"name": "llamacpp", "installed": True, "running": True, "version": "b5412",
         "endpoint": urls["LLAMA_SERVER_HOST"]},
        {"name": "lmstudio", "installed": True, "running": True, "version": None,
         "endpoint": urls["LMSTUDIO_HOST"]},
        {"name": "mlx", "installed": True, "running": False, "version": "0.24.0", "endpoint": None},
        {"name": "vllm", "installed": True, "running": True, "version": "0.8.5",
         "endpoint": urls["VLLM_HOST"]},
        {"name": "docker_model_runner", "installed": True, "running": True, "version": None,
         "endpoint": urls["MODEL_RUNNER_HOST"]}],
        "warnings": []}


def model(runtime, name, catalog, quant, size, loaded=False):
    return {"runtime": runtime, "name": name, "catalog_name": catalog, "quant": quant,
            "size_gb": size, "loaded": loaded}


EXPECTED_MODELS = [
    model("ollama", "qwen3:8b", "Qwen/Qwen3-8B", "Q4_K_M", 4.87, True),
    model("ollama", "llama3.1:8b-instruct-q8_0", "meta-llama/Llama-3.1-8B-Instruct", "Q8_0", 7.95),
    model("ollama", "hf.co/bartowski/Llama-3.2-3B-Instruct-GGUF:Q4_K_M",
          "meta-llama/Llama-3.2-3B-Instruct", "Q4_K_M", 1.88),
    model("ollama", "my-finetune:latest", None, "F16", 0.93),
    model("llamacpp", "Qwen_Qwen2.5-7B-Instruct-GGUF_qwen2.5-7b-instruct-q4_k_m.gguf",
          "Qwen/Qwen2.5-7B-Instruct", "Q4_K_M", 4.36, True),
    model("llamacpp", "unsloth_Qwen3-8B-GGUF_Qwen3-8B-Q8_0.gguf", "Qwen/Qwen3-8B", "Q8_0", 8.0),
    model("lmstudio", "lmstudio-community/Mistral-7B-Instruct-v0.3-GGUF/"
          "Mistral-7B-Instruct-v0.3-Q4_K_M.gguf", "mistralai/Mistral-7B-Instruct-v0.3", "Q4_K_M",
          4.07, True),
    model("lmstudio", "mlx-community/Qwen2.5-7B-Instruct-4bit", "Qwen/Qwen2.5-7B-Instruct",
          "mlx-4bit", 4.0),
    model("lmstudio", "text-embedding-nomic-embed-text-v1.5", None, "Q4_K_M", None),
    model("mlx", "mlx-community/Llama-3.2-3B-Instruct-4bit", "meta-llama/Llama-3.2-3B-Instruct",
          "mlx-4bit", 1.68),
    model("vllm", "Qwen/Qwen2.5-7B-Instruct-AWQ", "Qwen/Qwen2.5-7B-Instruct", "AWQ", None, True),
    model("docker_model_runner", "ai/smollm2:360M-Q4_K_M", None, "Q4_K_M", None),
    model("docker_model_runner", "hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF:Q5_K_M",
          "Qwen/Qwen2.5-7B-Instruct", "Q5_K_M", None),
]
INSTALLED_ROWS = {"Qwen/Qwen3-8B", "meta-llama/Llama-3.1-8B-Instruct",
                  "meta-llama/Llama-3.2-3B-Instruct", "Qwen/Qwen2.5-7B-Instruct",
                  "mistralai/Mistral-7B-Instruct-v0.3"}


def test_runtimes_json_lists_every_runtime(machine, cli):
    result = cli(100)("runtimes", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == expected_runtimes(machine)


def test_installed_json_maps_models_to_catalog_rows(machine, cli):
    result = cli(100)("installed", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"models": EXPECTED_MODELS, "warnings": []}


def test_installed_table_shows_each_model(machine, cli):
    lines = cli(160)("installed").stdout.splitlines()
    assert lines[0] == "installed: 13 models"
    row = next(line for line in lines if "qwen3:8b" in line).split()
    assert row == ["Ollama", "qwen3:8b", "Q4_K_M", "4.9", "yes", "Qwen/Qwen3-8B"]


def test_runtimes_table_says_what_runs(machine, cli):
    lines = cli(160)("runtimes").stdout.splitlines()
    row = next(line for line in lines if line.strip().startswith("llama.cpp")).split()
    assert row == ["llama.cpp", "yes", "yes", "b5412", machine["LLAMA_SERVER_HOST"]]


def test_top_installed_keeps_only_installed_rows(machine, cli):
    body = json.loads(cli(100)("models", "--installed", "--json").stdout)
    assert {r["name"] for r in body["models"]} == INSTALLED_ROWS
    assert all(r["installed"] for r in body["models"]) and body["filters"]["installed"] is True
    top = json.loads(cli(100)("top", "--installed", "--json").stdout)
    assert {r["name"] for r in top["models"]} <= INSTALLED_ROWS and top["models"]


def test_plain_top_never_probes_runtimes(machine, cli, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("runtime probes ran for plain `llmfit top`")

    monkeypatch.setattr("llmfit.runtimes.probe.probe_all", refuse)
    body = json.loads(cli(100)("top", "--json").stdout)
    assert body["returned_models"] == 5 and body["filters"]["installed"] is None


def test_api_answers_what_the_cli_prints(machine, cli, service_for):
    from llmfit.runtimes.probe import probe_all as real_probe

    service = service_for(cpu_box(), runtime_probe=real_probe, probe_runtimes=True)
    client = TestClient(create_app(service), raise_server_exceptions=False)
    runtimes = client.get("/api/v1/runtimes")
    assert runtimes.status_code == 200 and runtimes.headers["content-type"] == "application/json"
    assert runtimes.json() == expected_runtimes(machine)
    assert client.get("/api/v1/installed").json() == {"models": EXPECTED_MODELS, "warnings": []}
    rows = client.get("/api/v1/models?installed=true").json()["models"]
    assert {r["name"] for r in rows} == INSTALLED_ROWS
    bad = client.get("/api/v1/models?installed=maybe")
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid installed value: use true|false (also 1|0, yes|no)"}


# --- absent, hung and failing runtimes ---------------------------------------------------------


def test_absent_runtimes_are_warnings_not_errors(cli):
    result = cli(100)("installed", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["models"] == []
    assert [w.split(":")[0] for w in body["warnings"]] == [
        "ollama", "llamacpp", "lmstudio", "mlx", "vllm", "docker_model_runner"]
    assert body["warnings"][0] == (f"ollama: not found (no server at http://{CLOSED_HOST} "
                                   "(Connection refused), no models folder)")


def test_a_hung_runtime_costs_only_its_timeout(tmp_path):
    with HungRuntime() as hung:
        host = hung.host
        ctx = context(tmp_path, OLLAMA_HOST=host, LMSTUDIO_HOST=host, VLLM_HOST=host)
        start = time.monotonic()
        report = probe_all(ctx)
        elapsed = time.monotonic() - start
    assert elapsed < 1.5  # one 0.5 s read timeout per runtime, all at once
    assert report.runtimes[0] == RuntimeStatus("ollama")
    assert report.warnings[0] == (f"ollama: not found (no server at http://{host} "
                                  "(no answer in time), no models folder)")


def test_a_probe_past_the_deadline_is_left_behind(tmp_path):
    def stuck(ctx):
        time.sleep(30)

    def fine(ctx):
        return Findings(RuntimeStatus("vllm", installed=True, version="0.8.5"))

    start = time.monotonic()
    report = probe_all(context(tmp_path), {"ollama": stuck, "vllm": fine}, deadline_s=0.3)
    assert time.monotonic() - start < 1.0
    assert report == RuntimeReport(
        runtimes=(RuntimeStatus("ollama"), RuntimeStatus("vllm", installed=True, version="0.8.5")),
        warnings=("ollama: no answer within 0.3 s",))


def test_a_failing_probe_is_a_warning(tmp_path):
    def broken(ctx):
        raise RuntimeError("boom")

    report = probe_all(context(tmp_path), {"ollama": broken})
    assert report.warnings == ("ollama: probe failed (boom)",)


def test_serve_probes_runtimes_once_per_snapshot(service_for):
    calls = []

    def probe():
        calls.append(1)
        return RuntimeReport((RuntimeStatus("ollama", True, True, "0.6.8", "http://x:1"),),
                             (InstalledModel("ollama", "qwen3:8b", "Q4_K_M", 5225388164),))

    service = service_for(cpu_box(), runtime_probe=probe, probe_runtimes=True)
    for _ in range(3):
        assert service.installed_body()["models"][0]["catalog_name"] == "Qwen/Qwen3-8B"
        service.runtimes_body()
    assert len(calls) == 1
    service.refresh()
    service.installed_body()
    assert len(calls) == 2
