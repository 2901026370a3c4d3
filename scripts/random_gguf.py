"""Write an F16 GGUF with random weights of exactly the shapes of a catalog model.

    python scripts/random_gguf.py MODEL_NAME OUT.gguf [--q8 | --q4]

Decode speed depends on tensor shapes and types, not on weight values, so a random-weight model
quantized with `llama-quantize` runs at the real model's speed and has its file size (see
shared/reference/cpu-measurement.md). Supported catalog architectures: dense Llama/Qwen2/Qwen3
shapes, OLMoE- and Qwen3-style MoE and DeepSeek-V2 (MLA attention, a leading dense block,
shared experts). The tokenizer is synthetic, with exactly vocab_size tokens. --q8 / --q4 write
Q8_0 / Q4_0 instead of F16 (a half / a quarter of the disk, streamed tensor by tensor; make the
type to measure with `llama-quantize --allow-requantize`: tensor types follow names and shapes,
not the source type).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter  # noqa: E402

from llmfit.catalog import load_catalog  # noqa: E402

# Hub family -> (llama.cpp architecture, has q/k/v biases, has q/k norms)
ARCHES = {"Llama": ("llama", False, False), "Qwen2.5": ("qwen2", True, False),
          "Qwen3": ("qwen3", False, True), "OLMoE": ("olmoe", False, True),
          "DeepSeek-V2": ("deepseek2", False, False)}
_RANDOM = np.random.default_rng(0).normal(0, 0.02, 1 << 24).astype(np.float16)
FILE_TYPES = {GGMLQuantizationType.Q8_0: 7, GGMLQuantizationType.Q4_0: 2}  # MOSTLY_Q8_0, _Q4_0


def random_f16(shape: tuple[int, ...]) -> np.ndarray:
    """Random N(0, 0.02) values (a fixed pool, tiled: values do not matter for speed)."""
    n = int(np.prod(shape))
    reps = -(-n // _RANDOM.size)
    return np.tile(_RANDOM, reps)[:n].reshape(shape)


def deepseek2_tensors(model):
    """DeepSeek-V2 layout as llama.cpp loads it (src/models/deepseek2.cpp): MLA with the
    compressed KV projection and per-head k_b/v_b, dense FFN in the leading block(s), then
    routed experts plus one shared-expert FFN (n_shared x moe_intermediate wide)."""
    a = model.arch
    nope, rope, v_dim = a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim
    rank, heads, hidden = a.kv_lora_rank, a.attention_heads, a.hidden_size
    yield "token_embd.weight", (a.vocab_size, hidden)
    yield "output_norm.weight", (hidden,)
    yield "output.weight", (a.vocab_size, hidden)
    for i in range(a.layers):
        b = f"blk.{i}."
        yield b + "attn_norm.weight", (hidden,)
        if a.q_lora_rank:
            yield b + "attn_q_a_norm.weight", (a.q_lora_rank,)
            yield b + "attn_q_a.weight", (a.q_lora_rank, hidden)
            yield b + "attn_q_b.weight", (heads * (nope + rope), a.q_lora_rank)
        else:
            yield b + "attn_q.weight", (heads * (nope + rope), hidden)
        yield b + "attn_kv_a_norm.weight", (rank,)
        yield b + "attn_kv_a_mqa.weight", (rank + rope, hidden)
        yield b + "attn_k_b.weight", (heads, rank, nope)
        yield b + "attn_v_b.weight", (heads, v_dim, rank)
        yield b + "attn_output.weight", (hidden, heads * v_dim)
        yield b + "ffn_norm.weight", (hidden,)
        if i < a.layers - a.moe_layers:
            yield b + "ffn_gate.weight", (a.intermediate_size, hidden)
            yield b + "ffn_up.weight", (a.intermediate_size, hidden)
            yield b + "ffn_down.weight", (hidden, a.intermediate_size)
            continue
        e, ff, shared = a.experts, a.moe_intermediate_size, a.shared_expert_intermediate_size
        yield b + "ffn_gate_inp.weight", (e, hidden)
        yield b + "ffn_gate_exps.weight", (e, ff, hidden)
        yield b + "ffn_up_exps.weight", (e, ff, hidden)
        yield b + "ffn_down_exps.weight", (e, hidden, ff)
        yield b + "ffn_gate_shexp.weight", (shared, hidden)
        yield b + "ffn_up_shexp.weight", (shared, hidden)
        yield b + "ffn_down_shexp.weight", (hidden, shared)


def tensors(model, arch_name: str, bias: bool, qk_norm: bool):
    if arch_name == "deepseek2":
        yield from deepseek2_tensors(model)
        return
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


def byte_shape(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> tuple[int, ...]:
    """A quantized tensor's shape in bytes: its rows of blocks."""
    block, size = GGML_QUANT_SIZES[qtype]
    return (*shape[:-1], shape[-1] // block * size)


def random_quantized(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> np.ndarray:
    """Bytes of random weights in `qtype`: one quantized pool of blocks, tiled (values do not
    matter for speed, and blocks are independent)."""
    pool = _pool(qtype)
    out = byte_shape(shape, qtype)
    n = int(np.prod(out))
    return np.tile(pool, -(-n // pool.size))[:n].reshape(out)


@cache
def _pool(qtype: GGMLQuantizationType) -> np.ndarray:
    from gguf.quants import quantize
    block, _ = GGML_QUANT_SIZES[qtype]
    return quantize(_RANDOM[:1 << 20].astype(np.float32).reshape(-1, block), qtype).reshape(-1)


def add_metadata(w: GGUFWriter, model, arch_name: str) -> None:
    """Architecture keys: the common ones, then DeepSeek-V2's MLA and shared-expert keys."""
    a = model.arch
    w.add_name(f"random weights, shapes of {model.name}")
    w.add_block_count(a.layers)
    w.add_context_length(model.context_length)
    w.add_embedding_length(a.hidden_size)
    w.add_feed_forward_length(a.intermediate_size if arch_name == "deepseek2" or not a.is_moe
                              else a.moe_intermediate_size)
    w.add_head_count(a.attention_heads)
    if arch_name == "deepseek2":
        rank, rope = a.kv_lora_rank, a.qk_rope_head_dim
        w.add_head_count_kv(1)  # MLA: one compressed KV "head" per token
        w.add_key_length(rank + rope)
        w.add_value_length(rank)
        w.add_key_length_mla(a.qk_nope_head_dim + rope)
        w.add_value_length_mla(a.v_head_dim)
        w.add_kv_lora_rank(rank)
        if a.q_lora_rank:
            w.add_q_lora_rank(a.q_lora_rank)
        w.add_rope_dimension_count(rope)
        w.add_leading_dense_block_count(a.layers - a.moe_layers)
        w.add_expert_shared_count(a.shared_expert_intermediate_size // a.moe_intermediate_size)
        w.add_expert_weights_scale(1.0)
    else:
        w.add_head_count_kv(a.kv_heads)
        w.add_key_length(a.head_dim)
        w.add_value_length(a.head_dim)
        w.add_rope_dimension_count(a.head_dim)
    w.add_rope_freq_base(500000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(a.vocab_size)
    if a.is_moe:
        w.add_expert_count(a.experts)
        w.add_expert_used_count(a.experts_per_token)
        if arch_name in ("qwen3moe", "deepseek2"):  # olmoe reads the expert width as the FFN's
            w.add_expert_feed_forward_length(a.moe_intermediate_size)


def write(model, path: Path, qtype: GGMLQuantizationType | None = None) -> None:
    family = next(f for f in ARCHES if model.family.startswith(f))
    arch_name, bias, qk_norm = ARCHES[family]
    a = model.arch
    if arch_name == "qwen3" and a.is_moe:
        arch_name = "qwen3moe"
    w = GGUFWriter(path, arch_name)
    add_metadata(w, model, arch_name)
    w.add_file_type(FILE_TYPES[qtype] if qtype else 1)  # else MOSTLY_F16
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"t{i}" for i in range(a.vocab_size - len(tokens))]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * (len(tokens) - 259))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    shapes = list(tensors(model, arch_name, bias, qk_norm))
    for name, shape in shapes:  # tensor infos first, then the data streamed in the same order
        if len(shape) == 1:
            w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * shape[0])
        elif qtype:
            size = byte_shape(shape, qtype)
            w.add_tensor_info(name, size, np.dtype(np.uint8), int(np.prod(size)), qtype)
        else:
            w.add_tensor_info(name, shape, np.dtype(np.float16), 2 * int(np.prod(shape)))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, shape in shapes:
        if len(shape) == 1:  # norms are ones, biases random; both F32
            w.write_tensor_data(np.ones(shape, np.float32) if name.endswith("norm.weight")
                                else random_f16(shape).astype(np.float32))
        else:
            w.write_tensor_data(random_quantized(shape, qtype) if qtype else random_f16(shape))
    w.close()


def main(argv: list[str]) -> int:
    types = {"--q8": GGMLQuantizationType.Q8_0, "--q4": GGMLQuantizationType.Q4_0}
    qtype = next((types[a] for a in argv if a in types), None)
    name, out = [a for a in argv if a not in types]
    model = next(m for m in load_catalog() if m.name == name)
    write(model, Path(out), qtype)
    print(f"wrote {out}: {Path(out).stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
