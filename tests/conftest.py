"""Shared fixtures: machines described as values, services that never probe real hardware."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

# Never read or write the developer's own user catalog, Hub cache or HF cache.
_HOME = tempfile.mkdtemp(prefix="llmfit-test-home-")
os.environ["LLMFIT_HOME"] = _HOME
os.environ["HF_HOME"] = os.path.join(_HOME, "hf")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["LLMFIT_NO_MEASURE"] = "1"  # tests/test_membw.py runs the probe on purpose
os.environ.pop("HF_ENDPOINT", None)
os.environ.pop("HF_TOKEN", None)

from llmfit.catalog import load_catalog
from llmfit.values import GpuDevice, SystemSpec

DATA = Path(__file__).parent / "data"


def cpu_box(cores: int = 2, ram: float = 23.4, available: float = 22.0) -> SystemSpec:
    """A CPU-only x86 machine like the CI runner."""
    return SystemSpec(total_ram_gib=ram, available_ram_gib=available, cpu_cores=cores,
                      cpu_name="Test CPU")


def rtx4090_box() -> SystemSpec:
    gpu = GpuDevice("NVIDIA GeForce RTX 4090", 24.0, 23.5, "CUDA", 1, False, 1008.0)
    return SystemSpec(total_ram_gib=64.0, available_ram_gib=60.0, cpu_cores=16,
                      cpu_name="Test CPU", gpus=(gpu,))


def dual_3090_box() -> SystemSpec:
    gpu = GpuDevice("NVIDIA GeForce RTX 3090", 24.0, 23.5, "CUDA", 2, False, 936.0)
    return SystemSpec(total_ram_gib=128.0, available_ram_gib=120.0, cpu_cores=24,
                      cpu_name="Test CPU", gpus=(gpu,))


def m2_max_box() -> SystemSpec:
    gpu = GpuDevice("Apple M2 Max", 32.0, 24.0, "Metal", 1, True, 400.0)
    return SystemSpec(total_ram_gib=32.0, available_ram_gib=24.0, cpu_cores=12,
                      cpu_name="Apple M2 Max", gpus=(gpu,), unified_memory=True, os="macos",
                      arch="arm64", ram_bandwidth_gbps=400.0)


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture
def service_for(catalog, monkeypatch):
    """Build a service over the real catalog for a given machine (no hardware probing)."""
    from llmfit.service import LlmfitService

    monkeypatch.delenv("OLLAMA_CONTEXT_LENGTH", raising=False)

    def make(system: SystemSpec, **kwargs):
        kwargs.setdefault("pulled_probe", frozenset)  # no local Ollama models unless a test says
        return LlmfitService(catalog=catalog, probe=lambda: system, **kwargs)

    return make


# A loopback port bound but never listening: connecting is refused at once. Runtime probes point
# there unless a test starts a fake runtime, so no test talks to a real local Ollama or LM Studio.
_CLOSED = socket.socket()
_CLOSED.bind(("127.0.0.1", 0))
CLOSED_HOST = f"127.0.0.1:{_CLOSED.getsockname()[1]}"
RUNTIME_HOST_VARS = ("OLLAMA_HOST", "LMSTUDIO_HOST", "LLAMA_SERVER_HOST", "VLLM_HOST",
                     "MODEL_RUNNER_HOST")


@pytest.fixture(autouse=True)
def no_local_ollama(monkeypatch, tmp_path):
    """Never read the developer's own Ollama models: `installed` stays false unless a test pulls.
    Each test also gets an empty user data dir ($LLMFIT_HOME) and HF cache."""
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "ollama-models"))
    monkeypatch.setenv("LLMFIT_HOME", str(tmp_path / "llmfit-home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in RUNTIME_HOST_VARS:  # and no runtime probe reaches a real local server or folder
        monkeypatch.setenv(name, CLOSED_HOST)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLAMA_CACHE", str(tmp_path / "llama-cache"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)


@pytest.fixture
def cli(monkeypatch):
    """A CLI invoker on a fixed 4-core 32 GiB CPU machine (no real probing), `columns` wide."""
    from typer.testing import CliRunner

    from llmfit.cli import app

    def build(columns: int = 80):
        monkeypatch.setattr("llmfit.service.detect_machine",
                            lambda **_: cpu_box(cores=4, ram=32, available=28))
        monkeypatch.setenv("NODE_NAME", "node-a")
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.delenv("OLLAMA_CONTEXT_LENGTH", raising=False)
        monkeypatch.delenv("LLMFIT_CATALOG", raising=False)
        runner = CliRunner()

        def invoke(*args: str):
            return runner.invoke(app, list(args), catch_exceptions=False)

        return invoke

    return build
