"""Local GGUF files: real files written with the `gguf` package, read back by `llmfit info`,
with the weight figure equal to the tensor table's bytes."""

from __future__ import annotations

import json

import pytest
from gguf import GGMLQuantizationType as T, LlamaFileType as F

from gguf_builder import Shape, write_gguf
from llmfit.errors import UsageError
from llmfit.estimate import GIB
from llmfit.gguf_file import read_gguf


@pytest.fixture
def run(cli):
    return cli(100)


def test_tiny_llama_q4_k_m_bytes_are_the_tensor_tables(tmp_path, run):
    path = tmp_path / "tiny.gguf"
    made = write_gguf(path, Shape())  # 4 layers, hidden 256, ff 512, 8 heads / 2 KV, vocab 1000
    # By hand (Q4_K: 144 bytes per 256 weights, Q6_K: 210, F32: 4 per weight):
    q4, q6 = 144 / 256, 210 / 256
    per_layer = (256 * 256 * 2 + 64 * 256 + 512 * 256 * 2) * q4 + (64 * 256 + 256 * 512) * q6 + 2 * 256 * 4
    expected = int(4 * per_layer + 1000 * 256 * q4 + 1000 * 256 * q6 + 256 * 4)
    assert made["tensor_bytes"] == expected
    body = json.loads(run("info", str(path), "--json").stdout)
    row = body["models"][0]
    assert row["weight_bytes"] == expected and row["weights_exact"] is True
    assert row["best_quant"] == "Q4_K_M" and row["runtime"] == "llamacpp"
    assert row["params_b"] == round(made["elements"] / 1e9, 3)
    assert row["context_length"] == 8192
    # f16 KV: 2 x 2 heads x 32 x 4 layers x 8192 tokens x 2 bytes
    assert row["memory_breakdown"]["kv_cache_gb"] == round(2 * 2 * 32 * 4 * 8192 * 2 / GIB, 2)
    assert f"Weights are the file's own: {expected:,} bytes at Q4_K_M." in row["notes"]
    assert row["verify_command"] == f"llama-bench -m {path} -ngl 0 -p 0 -n 128"


def test_moe_file_knows_its_experts_and_offloads_them(tmp_path):
    path = tmp_path / "moe.gguf"
    shape = Shape(arch="qwen3moe", layers=6, hidden=512, heads=8, kv_heads=4, experts=16,
                  experts_used=4, expert_ff=256, vocab=2048, file_type=F.MOSTLY_Q8_0,
                  body_type=T.Q8_0, down_type=T.Q8_0)
    made = write_gguf(path, shape)
    model = read_gguf(path)
    a = model.arch
    assert (a.experts, a.experts_per_token, a.moe_intermediate_size, a.moe_layers) == (16, 4, 256, 6)
    exps = 6 * 3 * 16 * 256 * 512 * 34 // 32  # Q8_0: 34 bytes per 32 weights
    w = model.exact_weights
    assert (w.total_bytes, w.routed_expert_bytes, w.quant) == (made["tensor_bytes"], exps, "Q8_0")
    assert w.active_expert_bytes == exps / 4
    embed = 2048 * 512 * 34 // 32
    assert w.read_per_token_bytes == made["tensor_bytes"] - exps + exps / 4 - embed
    assert model.is_moe and model.active_params_b < model.params_b


def test_tied_sliding_window_gemma3_file(tmp_path):
    path = tmp_path / "gemma.gguf"
    write_gguf(path, Shape(arch="gemma3", layers=12, tied=True, sliding_window=512,
                           file_type=F.MOSTLY_F16, body_type=T.F16, down_type=T.F16))
    model = read_gguf(path)
    assert model.arch.tied_embeddings and model.exact_weights.quant == "F16"
    assert (model.arch.sliding_window, model.arch.sliding_window_layers) == (512, 10)  # 5 of 6


def test_missing_file_type_is_read_from_the_tensor_types(tmp_path):
    path = tmp_path / "guess.gguf"
    shape = Shape(file_type=F.GUESSED, body_type=T.Q5_K, down_type=T.Q5_K)
    write_gguf(path, shape)
    assert read_gguf(path).exact_weights.quant == "Q5_K"


def test_big_file_is_sized_from_its_header_only(tmp_path):
    path = tmp_path / "big.gguf"
    made = write_gguf(path, Shape(layers=80, hidden=8192, ff=28672, heads=64, kv_heads=8,
                                  vocab=128256, file_type=F.MOSTLY_Q4_K_M, tokens=128256))
    assert made["file_bytes"] > 39 * 10**9  # a 70B model's Q4_K_M file, as a sparse file
    model = read_gguf(path)
    assert model.exact_weights.total_bytes == made["tensor_bytes"]
    assert 70.0 < model.params_b < 71.0


@pytest.mark.parametrize("content, message", [
    (b"", "not a readable GGUF file"),
    (b"PK\x03\x04 this is a zip file, not a model", "not a readable GGUF file"),
])
def test_non_gguf_files_get_a_clear_error(tmp_path, run, content, message):
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        read_gguf(path)
    result = run("info", str(path))
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def test_truncated_file_is_refused(tmp_path, run):
    path = tmp_path / "cut.gguf"
    made = write_gguf(path, Shape())
    with open(path, "r+b") as f:
        f.truncate(made["file_bytes"] - 1000)
    result = run("info", str(path))
    assert result.exit_code == 2 and "is truncated" in result.stderr
    with open(path, "r+b") as f:
        f.truncate(200)  # cut inside the header
    result = run("info", str(path))
    assert result.exit_code == 2 and "not a readable GGUF file" in result.stderr


def test_missing_path_is_a_clear_error(tmp_path, run):
    result = run("info", str(tmp_path / "nowhere.gguf"))
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_pulled_ollama_model_is_read_from_its_blob(tmp_path, run, monkeypatch):
    root = tmp_path / "ollama-models"
    blob = root / "blobs" / ("sha256-" + "ab" * 32)
    blob.parent.mkdir(parents=True)
    made = write_gguf(blob, Shape())
    manifest = root / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "1b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"layers": [
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "cd" * 32},
        {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + "ab" * 32}]}))
    monkeypatch.setenv("OLLAMA_MODELS", str(root))
    body = json.loads(run("info", "ollama:tiny:1b", "--json").stdout)
    row = body["models"][0]
    assert row["name"] == "tiny:1b" and row["weight_bytes"] == made["tensor_bytes"]
    missing = run("info", "ollama:absent:7b")
    assert missing.exit_code == 1 and "not pulled" in missing.stderr


def test_info_table_shows_the_file_row_and_every_quant(tmp_path, run):
    path = tmp_path / "tiny.gguf"
    made = write_gguf(path, Shape())
    out = run("info", str(path)).stdout
    assert f"{made['tensor_bytes']:,} bytes" in out
    assert "Q4_K_M (file)" in out and "Q8_0" in out and "This file: Q4_K_M" in out


@pytest.mark.parametrize("qtype", [None, T.Q8_0, T.Q4_0])
def test_an_mla_file_reads_back_the_shapes_it_was_written_with(tmp_path, qtype):
    """A DeepSeek-V2-shaped file from scripts/random_gguf.py (the current MLA layout: one KV
    "head" of rank + rope, per-head sizes in key_length_mla / value_length_mla) is read back with
    the decompressed per-head view the catalog uses, the routed and shared experts, and the
    leading dense block."""
    import sys
    from dataclasses import replace
    from pathlib import Path

    from llmfit.catalog import load_catalog
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import random_gguf

    lite = next(m for m in load_catalog() if m.name == "deepseek-ai/DeepSeek-V2-Lite-Chat")
    tiny = replace(lite, arch=replace(
        lite.arch, layers=3, hidden_size=64, intermediate_size=128, attention_heads=4,
        kv_heads=4, head_dim=32, vocab_size=512, attention_layers=3, kv_lora_rank=32,
        qk_rope_head_dim=16, qk_nope_head_dim=32, v_head_dim=32, experts=4,
        experts_per_token=2, moe_intermediate_size=32, shared_expert_intermediate_size=64,
        moe_layers=2))
    path = tmp_path / "tiny-deepseek2.gguf"
    random_gguf.write(tiny, path, qtype)
    a = read_gguf(path).arch
    assert (a.layers, a.hidden_size, a.attention_heads, a.kv_heads) == (3, 64, 4, 4)
    assert (a.kv_lora_rank, a.qk_rope_head_dim, a.qk_nope_head_dim, a.v_head_dim) == (32, 16, 32, 32)
    assert a.head_dim == 48  # nope + rope: the per-head query/key size of the decompressed view
    assert (a.experts, a.experts_per_token, a.moe_intermediate_size) == (4, 2, 32)
    assert (a.shared_expert_intermediate_size, a.moe_layers, a.intermediate_size) == (64, 2, 128)
    assert a.is_mla and a.tied_embeddings is False
