"""Write an F16 GGUF with random weights of exactly the shapes of a catalog model.

    python scripts/random_gguf.py MODEL_NAME OUT.gguf

Decode speed depends on tensor shapes and types, not on weight values, so a random-weight model
quantized with `llama-quantize` runs at the real model's speed and has its file size (see
shared/reference/cpu-measurement.md). Supported catalog architectures: dense Llama/Qwen2/Qwen3
shapes and OLMoE-style MoE. The tokenizer is synthetic, with exactly vocab_size tokens.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gguf import GGUFWriter  # noqa: E402

from llmfit.catalog import load_catalog  # noqa: E402

# Hub family -> (llama.cpp architecture, has q/k/v biases, has q/k norms)
ARCHES = {"Llama": ("llama", False, False), "Qwen2.5": ("qwen2", True, False),
          "Qwen3": ("qwen3", False, True), "OLMoE": ("olmoe", False, True)}
_RANDOM = np.random.default_rng(0).normal(0, 0.02, 1 << 24).astype(np.float16)


def random_f16(shape: tuple[int, ...]) -> np.ndarray:
    """Random N(0, 0.02) values (a fixed pool, tiled: values do not matter for speed)."""
    n = int(np.prod(shape))
    reps = -(-n // _RANDOM.size)
    return np.tile(_RANDOM, reps)[:n].reshape(shape)


def tensors(model, arch_name: str, bias: bool, qk_norm: bool):
    a = model.arch
    q_dim, kv_dim = a.attention_heads * a.head_dim, a.kv_heads * a.head_dim
    yield "token_embd.weight", (a.vocab_size, a.hidden_size)
    yield "output_norm.weight", (a.hidden_size,)
    if not a.tied_embeddings:
        yield "output.weight", (a.vocab_size, a.hidden_size)
    for i in range(a.layers):
        b = f"blk.{i}."
        yield b + "attn_norm.weight", (a.hidden_size,)
        yield b + "attn_q.weight", (q_dim, a.hidden_size)
        yield b + "attn_k.weight", (kv_dim, a.hidden_size)
        yield b + "attn_v.weight", (kv_dim, a.hidden_size)
        if bias:
            yield b + "attn_q.bias", (q_dim,)
            yield b + "attn_k.bias", (kv_dim,)
            yield b + "attn_v.bias", (kv_dim,)
        if qk_norm:
            width = q_dim if arch_name == "olmoe" else a.head_dim
            yield b + "attn_q_norm.weight", (width,)
            yield b + "attn_k_norm.weight", (kv_dim if arch_name == "olmoe" else a.head_dim,)
        yield b + "attn_output.weight", (a.hidden_size, q_dim)
        yield b + "ffn_norm.weight", (a.hidden_size,)
        if a.is_moe:
            e, ff = a.experts, a.moe_intermediate_size
            yield b + "ffn_gate_inp.weight", (e, a.hidden_size)
            yield b + "ffn_gate_exps.weight", (e, ff, a.hidden_size)
            yield b + "ffn_up_exps.weight", (e, ff, a.hidden_size)
            yield b + "ffn_down_exps.weight", (e, a.hidden_size, ff)
        else:
            yield b + "ffn_gate.weight", (a.intermediate_size, a.hidden_size)
            yield b + "ffn_up.weight", (a.intermediate_size, a.hidden_size)
            yield b + "ffn_down.weight", (a.hidden_size, a.intermediate_size)


def write(model, path: Path) -> None:
    family = next(f for f in ARCHES if model.family.startswith(f))
    arch_name, bias, qk_norm = ARCHES[family]
    a = model.arch
    w = GGUFWriter(path, arch_name)
    w.add_name(f"random weights, shapes of {model.name}")
    w.add_block_count(a.layers)
    w.add_context_length(model.context_length)
    w.add_embedding_length(a.hidden_size)
    w.add_feed_forward_length(a.moe_intermediate_size if a.is_moe else a.intermediate_size)
    w.add_head_count(a.attention_heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_key_length(a.head_dim)
    w.add_value_length(a.head_dim)
    w.add_rope_dimension_count(a.head_dim)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(a.vocab_size)
    w.add_file_type(1)  # MOSTLY_F16
    if a.is_moe:
        w.add_expert_count(a.experts)
        w.add_expert_used_count(a.experts_per_token)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"t{i}" for i in range(a.vocab_size - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (len(tokens) - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    for name, shape in tensors(model, arch_name, bias, qk_norm):
        data = np.ones(shape, np.float32) if name.endswith("norm.weight") else random_f16(shape)
        w.add_tensor(name, data.astype(np.float32) if data.ndim == 1 else data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv: list[str]) -> int:
    name, out = argv
    model = next(m for m in load_catalog() if m.name == name)
    write(model, Path(out))
    print(f"wrote {out}: {Path(out).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
