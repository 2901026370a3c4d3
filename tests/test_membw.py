"""The CPU memory-bandwidth probe: measured once per machine, cached, refreshed on request."""

from __future__ import annotations

import json
import math

import pytest

from llmfit.hardware import membw


def test_probe_measures_a_positive_bandwidth():
    gbps = membw.measure_stream_gbps(threads=2, mib=16, rounds=2)
    assert math.isfinite(gbps) and gbps > 0.1


def test_figure_is_cached_per_machine_and_refreshed_on_request(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMFIT_NO_MEASURE", raising=False)
    calls = []
    monkeypatch.setattr(membw, "measure_stream_gbps", lambda threads: calls.append(threads) or 41.5)
    assert membw.cpu_stream_bandwidth("Test CPU", 2) == (41.5, "measured")
    cached = json.loads((tmp_path / "llmfit-home" / "cache" / "bandwidth.json").read_text())
    assert cached["stream_gbps"] == 41.5 and cached["threads"] == 2
    assert membw.cpu_stream_bandwidth("Test CPU", 2) == (41.5, "measured")
    assert calls == [2]  # the second answer came from the cache
    assert membw.cpu_stream_bandwidth("Other CPU", 8) == (41.5, "measured")
    assert calls == [2, 8]  # another machine: measured again
    membw.cpu_stream_bandwidth("Other CPU", 8, refresh=True)
    assert calls == [2, 8, 8]


def test_probe_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("LLMFIT_NO_MEASURE", "1")
    monkeypatch.setattr(membw, "measure_stream_gbps", lambda threads: pytest.fail("measured"))
    assert membw.cpu_stream_bandwidth("Test CPU", 2) == (None, "assumed")


def test_a_broken_cache_file_is_measured_again(monkeypatch, tmp_path):
    monkeypatch.delenv("LLMFIT_NO_MEASURE", raising=False)
    path = tmp_path / "llmfit-home" / "cache" / "bandwidth.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    monkeypatch.setattr(membw, "measure_stream_gbps", lambda threads: 12.0)
    assert membw.cpu_stream_bandwidth("Test CPU", 2) == (12.0, "measured")


def test_system_shows_the_figure_and_whether_it_was_measured(monkeypatch, tmp_path):
    from llmfit.hardware import detect_system

    monkeypatch.delenv("LLMFIT_NO_MEASURE", raising=False)
    monkeypatch.setattr(membw, "measure_stream_gbps", lambda threads: 63.25)
    spec = detect_system(sys_root=tmp_path)
    assert spec.cpu_bandwidth_gbps == 63.25
    from llmfit.serialize import system_json

    body = system_json(spec)
    assert body["cpu_bandwidth_gbps"] == 63.2 and body["cpu_bandwidth_source"] == "measured"


def test_fewer_cores_stream_proportionally_less():
    from dataclasses import replace

    from conftest import cpu_box
    from llmfit.hardware.overrides import apply_overrides

    spec = replace(cpu_box(cores=8), cpu_bandwidth_gbps=80.0)
    assert apply_overrides(spec, cpu_cores=2).cpu_bandwidth_gbps == 20.0
    assert apply_overrides(spec, cpu_cores=32).cpu_bandwidth_gbps == 80.0
