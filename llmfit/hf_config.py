"""Pure: a Hugging Face `config.json` (+ the repo's metadata) → a catalog row.

Covers the `model_type`s of the curated catalog: dense GQA decoders, sliding-window layer
patterns, multi-head latent attention, mixtures of experts, hybrid linear-attention/Mamba
models, multimodal configs (text model in `text_config`) and BERT-like encoders. An unknown
`model_type` is read with the common key names and the row says its figures are approximate.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Mapping

from llmfit.architecture import Architecture, decoder_param_count
from llmfit.errors import UsageError

KNOWN_TYPES = frozenset("""
llama mistral mistral3 ministral ministral3 qwen2 qwen3 qwen2_moe qwen3_moe qwen3_next qwen2_vl
qwen2_5_vl qwen3_vl qwen3_vl_moe qwen3_5 qwen3_5_moe gemma gemma2 gemma3 gemma3_text gemma3n
gemma3n_text gemma4 gemma4_text phi phi3 phimoe phi4mm deepseek_v2 deepseek_v3 deepseek_v32
kimi_k2 gpt_oss granite granitemoe granitemoehybrid granitemoeshared olmo olmo2 olmo3 olmoe
starcoder2 cohere cohere2 glm glm4 glm4_moe glm4v glm4v_moe internlm2 internlm3 falcon falcon_h1
falcon_mamba mixtral llama4 llama4_text nemotron nemotron_h exaone exaone4 ernie4_5
ernie4_5_moe hunyuan_v1_dense hunyuan_v1_moe lfm2 lfm2_moe smollm3 jamba seed_oss minimax_m2
apertus arcee afmoe bailing_moe longcat_flash kimi_linear mimo bert xlm-roberta roberta
nomic_bert modernbert mpnet new distilbert gte jina_bert
""".split())
ENCODER_TYPES = frozenset({"bert", "xlm-roberta", "roberta", "nomic_bert", "modernbert", "mpnet",
                           "new", "distilbert", "gte", "jina_bert"})
PLAIN_MLP_TYPES = frozenset({"starcoder2", "falcon", "phi", "gpt2", "gpt_neox", "gpt_bigcode",
                             "bert", "xlm-roberta", "roberta", "mpnet", "distilbert", "new",
                             "gte", "nomic_bert_plain"})
TIED_BY_DEFAULT = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n",
                             "gemma3n_text", "gemma4", "gemma4_text"}) | ENCODER_TYPES
# Layer kinds of `layer_types` that keep no KV cache.
RECURRENT_LAYERS = frozenset({"linear_attention", "mamba", "mamba2", "conv", "short_conv",
                              "recurrent", "ssm", "kimi_delta_attention"})
SLIDING_LAYERS = frozenset({"sliding_attention", "local_attention", "chunked_attention"})


def _first(cfg: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = cfg.get(key)
        if value is not None:
            return value
    return None


def _int(cfg: Mapping[str, Any], *keys: str) -> int | None:
    value = _first(cfg, *keys)
    if isinstance(value, list):  # per-layer values: the largest
        value = max((v for v in value if isinstance(v, (int, float))), default=None)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def text_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The language model's part of a config (multimodal configs nest it in `text_config`)."""
    text = config.get("text_config") or config.get("llm_config") or {}
    merged = {k: v for k, v in config.items() if not isinstance(v, dict)}
    merged.update(text if isinstance(text, dict) else {})
    merged.setdefault("model_type", config.get("model_type"))
    return merged


def has_towers(config: Mapping[str, Any]) -> bool:
    """Whether the config describes vision or audio encoders beside the language model."""
    return any(isinstance(config.get(k), dict) for k in ("vision_config", "audio_config",
                                                           "visual", "vision_tower"))


def _layer_kinds(cfg: Mapping[str, Any], layers: int) -> list[str] | None:
    kinds = cfg.get("layer_types")
    if isinstance(kinds, list) and len(kinds) == layers and all(isinstance(k, str) for k in kinds):
        return kinds
    pattern = cfg.get("hybrid_override_pattern")  # Nemotron-H: M = Mamba, * = attention, - = MLP
    if isinstance(pattern, str) and pattern:
        return ["full_attention" if c == "*" else "mamba" if c == "M" else "mlp" for c in pattern]
    interval = _int(cfg, "full_attention_interval")  # Qwen3-Next: every 4th layer is attention
    if interval:
        return ["full_attention" if (i + 1) % interval == 0 else "linear_attention"
                for i in range(layers)]
    period, offset = _int(cfg, "attn_layer_period"), cfg.get("attn_layer_offset")  # Jamba
    if period and isinstance(offset, int):
        return ["full_attention" if i % period == offset else "mamba" for i in range(layers)]
    return None


def _sliding(cfg: Mapping[str, Any], kinds: list[str] | None, layers: int) -> int:
    if kinds is not None:
        return sum(k in SLIDING_LAYERS for k in kinds)
    pattern = _int(cfg, "sliding_window_pattern")  # Gemma 3: 5 local then 1 global
    if pattern and pattern > 1:
        return layers - layers // pattern
    if cfg.get("model_type") == "gemma2":
        return layers // 2
    return 0


def _moe_layers(cfg: Mapping[str, Any], layers: int) -> int:
    dense_first = _int(cfg, "first_k_dense_replace", "num_dense_layers") or 0
    step = _int(cfg, "decoder_sparse_step", "interleave_moe_layer_step", "moe_layer_freq")
    mlp_only = cfg.get("mlp_only_layers") or []
    count = sum(1 for i in range(dense_first, layers)
                if (step is None or step <= 1 or (i + 1) % step == 0) and i not in mlp_only)
    return count


def architecture_from_config(config: Mapping[str, Any]) -> tuple[Architecture, list[str]]:
    """Architecture facts from config.json, with notes on anything assumed."""
    cfg = text_config(config)
    mtype = str(cfg.get("model_type") or "")
    notes: list[str] = []
    layers = _int(cfg, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    hidden = _int(cfg, "hidden_size", "n_embd", "d_model", "dim")
    if not layers or not hidden:
        raise UsageError("config.json states no layer count or hidden size: cannot size this model")
    heads = _int(cfg, "num_attention_heads", "n_head", "num_heads") or max(hidden // 128, 1)
    kv = _int(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num")
    if kv is None:
        kv = 1 if cfg.get("multi_query") else heads
    head_dim = _int(cfg, "head_dim", "attention_head_dim") or max(hidden // heads, 1)
    kinds = _layer_kinds(cfg, layers)
    recurrent = kinds is not None and any(k in RECURRENT_LAYERS for k in kinds)
    encoder = mtype in ENCODER_TYPES
    kind = "encoder" if encoder else "hybrid" if recurrent else "transformer"
    attention_layers = (sum(k not in RECURRENT_LAYERS and k != "mlp" for k in kinds)
                        if recurrent and kinds else layers)
    experts = _int(cfg, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
    is_moe = bool(experts and experts > 1)
    moe_width = _int(cfg, "moe_intermediate_size", "expert_intermediate_size") if is_moe else None
    dense_width = _int(cfg, "intermediate_size_mlp", "intermediate_size", "ffn_hidden_size",
                       "n_inner", "ffn_dim")
    if is_moe and moe_width is None:  # Mixtral, gpt-oss, PhiMoE: intermediate_size is an expert
        moe_width, dense_width = dense_width, None
    shared = 0
    if is_moe:
        shared = (_int(cfg, "shared_expert_intermediate_size")
                  or (_int(cfg, "n_shared_experts", "num_shared_experts", "num_shared_expert")
                      or 0) * (moe_width or 0))
    moe_layers = _moe_layers(cfg, layers) if is_moe else 0
    sliding = _sliding(cfg, kinds, layers) if cfg.get("sliding_window") else 0
    mla = _int(cfg, "kv_lora_rank")
    act = str(_first(cfg, "hidden_act", "hidden_activation", "activation_function") or "")
    gated = mtype not in PLAIN_MLP_TYPES and not (encoder and "glu" not in act.lower())
    tied_raw = cfg.get("tie_word_embeddings")
    tied = bool(tied_raw) if isinstance(tied_raw, bool) else mtype in TIED_BY_DEFAULT
    vocab = _int(cfg, "vocab_size", "padded_vocab_size") or 32000
    if dense_width is None and (not is_moe or moe_layers < layers):
        dense_width = 4 * hidden
        notes.append("config.json states no MLP width; 4 x hidden size assumed.")
    if heads % kv:
        kv = heads
        notes.append("KV heads do not divide the attention heads; no GQA assumed.")
    arch = Architecture(
        kind=kind, layers=layers, hidden_size=hidden,
        intermediate_size=dense_width if (not is_moe or moe_layers < layers) else None,
        mlp="gated" if gated else "plain", attention_heads=heads, kv_heads=kv,
        head_dim=head_dim, vocab_size=vocab, tied_embeddings=tied,
        attention_layers=attention_layers,
        sliding_window=_int(cfg, "sliding_window") if sliding else None,
        sliding_window_layers=min(sliding, attention_layers),
        kv_lora_rank=mla, q_lora_rank=_int(cfg, "q_lora_rank") if mla else None,
        qk_rope_head_dim=_int(cfg, "qk_rope_head_dim") if mla else None,
        qk_nope_head_dim=_int(cfg, "qk_nope_head_dim") if mla else None,
        v_head_dim=_int(cfg, "v_head_dim") if mla else None,
        experts=experts if is_moe else None,
        experts_per_token=_int(cfg, "num_experts_per_tok", "moe_k", "top_k",
                               "num_experts_per_token") if is_moe else None,
        moe_intermediate_size=moe_width, shared_expert_intermediate_size=shared,
        moe_layers=moe_layers)
    if mtype not in KNOWN_TYPES:
        notes.append(f"model_type {mtype or '(none)'!r} is not one llmfit knows: the architecture "
                     "was read from common config keys, so the figures are approximate.")
    return arch, notes


def native_context(config: Mapping[str, Any]) -> int:
    """The native window: max_position_embeddings (never multiplied by a RoPE factor)."""
    cfg = text_config(config)
    return _int(cfg, "max_position_embeddings", "n_positions", "max_sequence_length",
                "seq_length", "model_max_length") or 4096


def _category(config: Mapping[str, Any], arch: Architecture, repo: str, pipeline: str | None) -> tuple[str, list[str]]:
    low = repo.lower()
    if arch.kind == "encoder" or pipeline in ("feature-extraction", "sentence-similarity") \
            or "embed" in low:
        return "Embedding", ["embedding"]
    if "coder" in low or "code" in low:
        return "Coding", ["code"]
    if has_towers(config):
        return "Multimodal", ["vision"]
    if any(w in low for w in ("thinking", "reason", "-r1", "qwq")):
        return "Reasoning", ["reasoning"]
    return "General", []


def row_from_config(repo: str, config: Mapping[str, Any], meta: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog row for a Hub repo: `meta` holds `safetensors_total`, `created_at`,
    `license`, `pipeline_tag` and `sha` as the Hub answered them (any may be missing)."""
    arch, notes = architecture_from_config(config)
    decoder_b = decoder_param_count(arch) / 1e9
    counted = meta.get("safetensors_total")
    if isinstance(counted, int) and counted > 0:
        params_b = counted / 1e9
        source = "safetensors metadata"
    else:
        params_b = decoder_b
        source = "recomputed from config.json"
        notes.append("The repo publishes no safetensors parameter count; it was recomputed "
                     "from the architecture.")
    extra = max(params_b - decoder_b, 0.0) if has_towers(config) else 0.0
    active = None
    if arch.is_moe:
        active = decoder_param_count(arch, active_only=True) / 1e9 + extra
        active = min(active, params_b)
    category, caps = _category(config, arch, repo, meta.get("pipeline_tag"))
    created = str(meta.get("created_at") or "")[:10]
    try:
        day = min(dt.date.fromisoformat(created), dt.date.today()).isoformat()
    except ValueError:
        day = dt.date.today().isoformat()
        notes.append("The Hub gave no creation date; today's date is used.")
    owner, _, model = repo.partition("/")
    mtype = str(text_config(config).get("model_type") or "unknown")
    return {
        "name": repo, "provider": owner, "family": mtype, "params_b": round(params_b, 3),
        "active_params_b": None if active is None else round(active, 3),
        "context_length": native_context(config), "release_date": day,
        "license": (str(meta["license"]).lower() if meta.get("license") else None),
        "category": category, "use_case": f"{model} (from the Hugging Face Hub)"[:60],
        "capabilities": caps, "arch": {k: getattr(arch, k) for k in arch.__dataclass_fields__},
        "quants": ["BF16"], "gguf_sources": [], "ollama_name": None,
        "extra_params_b": round(extra, 3),
        "provenance": (f"Hub: config.json of {repo}" + (f" at {meta['sha']}" if meta.get("sha") else "")
                       + f"; parameters from {source}; date = repo creation"),
        "source_notes": notes,
    }
