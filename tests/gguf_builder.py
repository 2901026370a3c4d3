"""Write real GGUF files with the `gguf` package: the header of a model of real shape, with the
tensor data left as a sparse hole (zeros), so a file of any size is made in milliseconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as T, GGUFWriter, LlamaFileType

ALIGN = 32


@dataclass
class Shape:
    """A decoder's shape, as the GGUF metadata states it."""

    arch: str = "llama"
    layers: int = 4
    hidden: int = 256
    ff: int = 512
    heads: int = 8
    kv_heads: int = 2
    vocab: int = 1000
    context: int = 8192
    tied: bool = False
    experts: int = 0
    experts_used: int = 0
    expert_ff: int = 0
    shared_ff: int = 0
    sliding_window: int = 0
    file_type: LlamaFileType = LlamaFileType.MOSTLY_Q4_K_M
    body_type: T = T.Q4_K
    down_type: T = T.Q6_K
    extra_meta: dict = field(default_factory=dict)
    tokens: int = 0  # tokenizer.ggml.tokens entries to write (the header's largest part)


def nbytes(shape: tuple[int, ...], kind: T) -> int:
    """Bytes of a tensor of `shape` (numpy order) stored as `kind` (llama.cpp block sizes)."""
    block, size = GGML_QUANT_SIZES[kind]
    return int(np.prod(shape)) * size // block


def tensors_for(s: Shape) -> list[tuple[str, tuple[int, ...], T]]:
    """(name, numpy-order shape, type) of every tensor llama.cpp would find in such a model."""
    head_dim = s.hidden // s.heads
    out = [("token_embd.weight", (s.vocab, s.hidden), s.body_type),
           ("output_norm.weight", (s.hidden,), T.F32)]
    if not s.tied:
        out.append(("output.weight", (s.vocab, s.hidden), s.down_type))
    for i in range(s.layers):
        b = f"blk.{i}."
        out += [(b + "attn_norm.weight", (s.hidden,), T.F32),
                (b + "attn_q.weight", (s.heads * head_dim, s.hidden), s.body_type),
                (b + "attn_k.weight", (s.kv_heads * head_dim, s.hidden), s.body_type),
                (b + "attn_v.weight", (s.kv_heads * head_dim, s.hidden), s.down_type),
                (b + "attn_output.weight", (s.hidden, s.heads * head_dim), s.body_type),
                (b + "ffn_norm.weight", (s.hidden,), T.F32)]
        if s.experts:
            e = s.experts
            out += [(b + "ffn_gate_inp.weight", (e, s.hidden), T.F32),
                    (b + "ffn_gate_exps.weight", (e, s.expert_ff, s.hidden), s.body_type),
                    (b + "ffn_up_exps.weight", (e, s.expert_ff, s.hidden), s.body_type),
                    (b + "ffn_down_exps.weight", (e, s.hidden, s.expert_ff), s.down_type)]
            if s.shared_ff:
                out += [(b + "ffn_gate_shexp.weight", (s.shared_ff, s.hidden), s.body_type),
                        (b + "ffn_up_shexp.weight", (s.shared_ff, s.hidden), s.body_type),
                        (b + "ffn_down_shexp.weight", (s.hidden, s.shared_ff), s.down_type)]
        else:
            out += [(b + "ffn_gate.weight", (s.ff, s.hidden), s.body_type),
                    (b + "ffn_up.weight", (s.ff, s.hidden), s.body_type),
                    (b + "ffn_down.weight", (s.hidden, s.ff), s.down_type)]
    return out


def write_gguf(path: Path, s: Shape) -> dict[str, int]:
    """Write the file; returns its tensor bytes, tensor elements and file size."""
    w = GGUFWriter(path, s.arch)
    a = s.arch
    w.add_block_count(s.layers)
    w.add_context_length(s.context)
    w.add_embedding_length(s.hidden)
    w.add_feed_forward_length(s.ff)
    w.add_head_count(s.heads)
    w.add_head_count_kv(s.kv_heads)
    w.add_file_type(int(s.file_type))
    w.add_string("general.name", f"Test {a} model")
    if s.experts:
        w.add_uint32(f"{a}.expert_count", s.experts)
        w.add_uint32(f"{a}.expert_used_count", s.experts_used)
        w.add_uint32(f"{a}.expert_feed_forward_length", s.expert_ff)
        if s.shared_ff:
            w.add_uint32(f"{a}.expert_shared_feed_forward_length", s.shared_ff)
    if s.sliding_window:
        w.add_uint32(f"{a}.attention.sliding_window", s.sliding_window)
    if s.tokens:
        w.add_token_list([f"tok{i}" for i in range(s.tokens)])
    for key, value in s.extra_meta.items():
        w.add_uint32(key, value) if isinstance(value, int) else w.add_string(key, value)
    total = elements = 0
    data = 0
    for name, shape, kind in tensors_for(s):
        size = nbytes(shape, kind)
        w.add_tensor_info(name, shape, np.dtype(np.float32), size, raw_dtype=kind)
        total += size
        elements += int(np.prod(shape))
        data += -(-size // ALIGN) * ALIGN
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = path.stat().st_size
    start = -(-header // ALIGN) * ALIGN
    with open(path, "r+b") as f:
        f.truncate(start + data)  # a sparse hole where the weights would be
    return {"tensor_bytes": total, "elements": elements, "file_bytes": start + data}
