"""Output that cannot be written, and strings that must not drive the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import cpu_box
from llmfit.render import escape_controls
from llmfit.values import GpuDevice

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), LLMFIT_HOME=str(tmp_path / "home"),
                LLMFIT_NO_MEASURE="1", OLLAMA_MODELS=str(tmp_path / "ollama"))


def test_control_characters_are_escaped_in_tables(cli, monkeypatch):
    evil = replace(cpu_box(), cpu_name="CPU\x1b[2J\x07", gpus=(
        GpuDevice("NVIDIA \x1b]0;pwned\x07 4090", 24.0, 23.0, "CUDA", 1, False, 1008.0),))
    run = cli(120)
    monkeypatch.setattr("llmfit.service.detect_machine", lambda **_: evil)
    out = run("system").stdout + run("top").stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "\\x1b[2J" in out
    assert escape_controls({"k": ["a\x9bb"]}) == {"k": ["a\\x9bb"]}


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes and /dev/full")
def test_a_closed_pipe_ends_quietly_like_other_unix_tools(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "llmfit", "models", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path))
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == -13  # SIGPIPE, shown by shells as 141
    assert "Traceback" not in err and err == ""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_one_message_and_status_1(tmp_path):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "llmfit", "top", "--json"], stdout=full,
                              stderr=subprocess.PIPE, env=_env(tmp_path), timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == "llmfit: error: cannot write the output: No space left on device"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")
def test_a_closed_stdout_is_one_message_and_status_1(tmp_path):
    done = subprocess.run(["bash", "-c", f"{sys.executable} -m llmfit top --json >&-"],
                          stderr=subprocess.PIPE, env=_env(tmp_path), timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == "llmfit: error: standard output is closed"


def test_an_ascii_only_stdout_gets_escapes_not_a_traceback(tmp_path):
    """LANG=C terminals and PYTHONIOENCODING=ascii pipes: tables and JSON still come out."""
    env = dict(_env(tmp_path), PYTHONIOENCODING="ascii", LC_ALL="C", LANG="C", COLUMNS="100")
    for args in (["top", "-n", "3"], ["system"], ["top", "--json", "-n", "2"], ["info", "phi-4"]):
        done = subprocess.run([sys.executable, "-m", "llmfit", *args], capture_output=True,
                              env=env, timeout=60)
        assert done.returncode == 0, (args, done.stderr.decode())
        assert b"Traceback" not in done.stderr
        done.stdout.decode("ascii")  # every byte written is ASCII


@pytest.mark.parametrize(("args", "message"), [
    (["top", "--ram", "9" * 5000], "invalid size '99999999999999999999'... (5,000 characters): "
                                   "larger than 1 PiB"),
    (["top", "--limit", "1" * 5000], "invalid limit value: use a whole number from 0 to 100,000"),
    (["top", "--cpu-cores", "8" * 4400], "invalid --cpu-cores value: use a whole number from 1 "
                                         "to 4,096"),
    (["models", "--memory", "0.0"], "invalid size '0.0': must be greater than 0"),
    (["models", "--ram", "1e-310"], "invalid size '1e-310': use a number with an optional unit")])
def test_huge_and_tiny_numbers_on_the_command_line_are_usage_errors(tmp_path, args, message):
    done = subprocess.run([sys.executable, "-m", "llmfit", *args], capture_output=True,
                          env=_env(tmp_path), timeout=60)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.startswith(f"llmfit: error: {message}") and err.count("\n") == 1, err


def test_accept_errors_are_logged_once_per_interval():
    """A connection flood's accept() errors: one line per interval, not one per event."""
    import logging

    from llmfit.server import _OncePerInterval

    logger = logging.getLogger("llmfit.test.flood")
    logger.propagate = False
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    logger.addFilter(_OncePerInterval(seconds=60))
    for n in range(10_000):
        logger.error("socket.accept() out of system resource: %s", n)
    logger.error("another message")
    assert seen == ["socket.accept() out of system resource: 0", "another message"]
