"""Architecture facts of one model: parameter counts and KV-cache size per token (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

ARCH_KINDS = ("transformer", "encoder", "hybrid")
MLP_KINDS = ("gated", "plain")


@dataclass(frozen=True)
class Architecture:
    """What `config.json` says about the shape of a model (see docs/catalog.md)."""

    kind: str
    layers: int
    hidden_size: int
    intermediate_size: int | None
    mlp: str
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    tied_embeddings: bool
    attention_layers: int
    sliding_window: int | None = None
    sliding_window_layers: int = 0
    kv_lora_rank: int | None = None
    q_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    experts: int | None = None
    experts_per_token: int | None = None
    moe_intermediate_size: int | None = None
    shared_expert_intermediate_size: int = 0
    moe_layers: int = 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def is_moe(self) -> bool:
        return self.experts is not None and self.experts > 1

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> "Architecture":
        """Build from a catalog row's `arch` object (unknown keys are an error)."""
        return cls(**dict(raw))


def _attention_params(a: Architecture) -> int:
    h = a.hidden_size
    if a.is_mla:
        rope, nope, v = a.qk_rope_head_dim or 0, a.qk_nope_head_dim or 0, a.v_head_dim or 0
        q_width = a.attention_heads * (nope + rope)
        q = h * a.q_lora_rank + a.q_lora_rank * q_width if a.q_lora_rank else h * q_width
        rank = a.kv_lora_rank or 0
        kv = h * (rank + rope) + rank * a.attention_heads * (nope + v)
        return q + kv + a.attention_heads * v * h
    q_and_o = 2 * h * a.attention_heads * a.head_dim
    return q_and_o + 2 * h * a.kv_heads * a.head_dim


def _mlp_params(hidden: int, width: int, mlp: str) -> int:
    return (3 if mlp == "gated" else 2) * hidden * width


def _moe_layer_params(a: Architecture, experts: int) -> int:
    h = a.hidden_size
    routed = experts * _mlp_params(h, a.moe_intermediate_size or 0, a.mlp)
    shared = _mlp_params(h, a.shared_expert_intermediate_size, a.mlp)
    return routed + shared + h * (a.experts or 0)


def decoder_param_count(a: Architecture, active_only: bool = False) -> int:
    """Parameters of the text model implied by the architecture (total, or active per token).

    Active counts leave out an untied input embedding: a token reads one row of it.
    """
    matrices = 1 if a.tied_embeddings or active_only else 2
    embeddings = a.vocab_size * a.hidden_size * matrices
    moe_layers = a.moe_layers if a.is_moe else 0
    dense_layers = a.layers - moe_layers
    per_dense = _mlp_params(a.hidden_size, a.intermediate_size or 0, a.mlp)
    experts = (a.experts_per_token or 0) if active_only else (a.experts or 0)
    mlp = dense_layers * per_dense + moe_layers * _moe_layer_params(a, experts)
    return embeddings + a.layers * _attention_params(a) + mlp


def kv_elements_per_token(a: Architecture, context: int) -> int:
    """Elements of KV cache the whole context needs (K and V, every attention layer)."""
    if a.is_mla:
        return a.attention_layers * ((a.kv_lora_rank or 0) + (a.qk_rope_head_dim or 0)) * context
    per_layer_token = 2 * a.kv_heads * a.head_dim
    local = a.sliding_window_layers if a.sliding_window else 0
    full = a.attention_layers - local
    local_tokens = min(context, a.sliding_window or 0)
    return per_layer_token * (full * context + local * local_tokens)
