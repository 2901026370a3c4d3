"""config.json -> architecture, for the kinds of model the catalog holds (pure)."""

from __future__ import annotations

from llmfit.hf_config import architecture_from_config, native_context, row_from_config

GEMMA3_4B = {  # google/gemma-3-4b-it: text model in text_config, a SigLIP tower beside it
    "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
    "text_config": {"model_type": "gemma3_text", "hidden_size": 2560, "intermediate_size": 10240,
                    "num_hidden_layers": 34, "num_attention_heads": 8, "num_key_value_heads": 4,
                    "head_dim": 256, "sliding_window": 1024, "sliding_window_pattern": 6,
                    "max_position_embeddings": 131072, "vocab_size": 262208},
    "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 1152},
}
GPT_OSS_20B = {  # openai/gpt-oss-20b: alternating sliding/full layers, 32 experts
    "model_type": "gpt_oss", "hidden_size": 2880, "intermediate_size": 2880,
    "num_hidden_layers": 24, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 64,
    "num_local_experts": 32, "num_experts_per_tok": 4, "sliding_window": 128,
    "layer_types": ["sliding_attention", "full_attention"] * 12, "vocab_size": 201088,
    "max_position_embeddings": 131072, "tie_word_embeddings": False,
}
NEMOTRON_H = {  # a Nemotron-H style hybrid: M = Mamba2, * = attention, - = MLP-only
    "model_type": "nemotron_h", "hidden_size": 4480, "intermediate_size": 15680,
    "num_hidden_layers": 8, "num_attention_heads": 40, "num_key_value_heads": 8, "head_dim": 128,
    "hybrid_override_pattern": "M-M*-M-M", "vocab_size": 131072,
    "max_position_embeddings": 131072,
}


def test_sliding_window_pattern_and_vision_tower():
    arch, notes = architecture_from_config(GEMMA3_4B)
    assert (arch.layers, arch.kv_heads, arch.head_dim) == (34, 4, 256)
    assert (arch.sliding_window, arch.sliding_window_layers) == (1024, 34 - 34 // 6)
    assert arch.tied_embeddings and not notes  # gemma ties by default; a known model_type
    row = row_from_config("google/gemma-3-4b-it", GEMMA3_4B, {"safetensors_total": 4_300_079_472})
    assert row["category"] == "Multimodal" and row["extra_params_b"] > 0.3  # the tower's share


def test_layer_types_and_experts():
    arch, _ = architecture_from_config(GPT_OSS_20B)
    assert (arch.experts, arch.experts_per_token, arch.moe_intermediate_size) == (32, 4, 2880)
    assert arch.intermediate_size is None and arch.moe_layers == 24
    assert (arch.sliding_window, arch.sliding_window_layers) == (128, 12)
    assert native_context(GPT_OSS_20B) == 131072


def test_hybrid_pattern_counts_only_attention_layers():
    arch, _ = architecture_from_config(NEMOTRON_H)
    assert arch.kind == "hybrid" and arch.attention_layers == 1 and arch.layers == 8


def test_missing_shape_is_a_clear_error():
    import pytest

    from llmfit.errors import UsageError

    with pytest.raises(UsageError, match="no layer count or hidden size"):
        architecture_from_config({"model_type": "llama"})
