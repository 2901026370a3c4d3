"""Read a local GGUF file's header (metadata and tensor table) into a ModelSpec with exact bytes.

Only the header is parsed (the `gguf` package memory-maps the file), so a 40 GB file is sized
without reading its weights. Weight bytes are the tensor table's own, to the byte.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmfit.architecture import Architecture
from llmfit.catalog import ExactWeights, ModelSpec
from llmfit.errors import UsageError

ENCODERS = frozenset({"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "jina-bert-v3",
                      "modern-bert", "neo-bert", "t5encoder"})
# Layers keep a sliding-window cache in a fixed pattern where the file has no per-layer flags.
SLIDING_SHARE = {"gemma2": 1 / 2, "gemma3": 5 / 6, "cohere2": 3 / 4, "gpt-oss": 1 / 2}


@dataclass(frozen=True)
class GgufTensors:
    """What the tensor table says: names with their element counts, bytes and types."""

    names: tuple[str, ...]
    elements: tuple[int, ...]
    nbytes: tuple[int, ...]
    types: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]


def read_gguf(path: str | Path) -> ModelSpec:
    """A ModelSpec for a GGUF file; a missing, truncated or non-GGUF file raises UsageError."""
    file = Path(path).expanduser()
    reader = _open(file)
    meta = {name: _contents(field) for name, field in reader.fields.items()
            if not name.startswith("tokenizer.ggml.")}
    tensors = GgufTensors(
        names=tuple(t.name for t in reader.tensors),
        elements=tuple(int(t.n_elements) for t in reader.tensors),
        nbytes=tuple(int(t.n_bytes) for t in reader.tensors),
        types=tuple(t.tensor_type.name for t in reader.tensors),
        shapes=tuple(tuple(int(d) for d in t.shape) for t in reader.tensors))
    end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    if end > file.stat().st_size:
        raise UsageError(f"{file} is truncated: its tensor table needs {end:,} bytes, "
                         f"the file has {file.stat().st_size:,}")
    return spec_from_gguf(meta, tensors, file)


class TruncatedGguf(Exception):
    """The tensor table points past the end of the file."""


BIG_ARRAY = 4096  # metadata arrays longer than this (token lists) are skipped, not parsed


def _reader_class() -> type:
    """GGUFReader that steps over long metadata arrays instead of parsing every element.

    The stock reader builds numpy views for each of a vocabulary's 150,000 strings (seconds);
    llmfit needs none of them, so long arrays become one opaque byte span (milliseconds).
    """
    import numpy as np
    from gguf import GGUFReader, GGUFValueType

    class HeaderReader(GGUFReader):  # type: ignore[misc]
        def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
            try:
                super()._build_tensors(start_offs, fields)
            except ValueError as exc:
                if "reshape" in str(exc):  # a tensor's data runs past the end of the file
                    raise TruncatedGguf() from None
                raise

        def _get_field_parts(self, orig_offs: int, raw_type: int) -> Any:
            if GGUFValueType(raw_type) != GGUFValueType.ARRAY:
                return super()._get_field_parts(orig_offs, raw_type)
            item_type, length = struct.unpack_from("<IQ", self.data.data, orig_offs)
            if length <= BIG_ARRAY:
                return super()._get_field_parts(orig_offs, raw_type)
            offs = orig_offs + 12
            sub = GGUFValueType(item_type)
            if sub == GGUFValueType.STRING:
                buf, unpack = self.data.data, struct.Struct("<Q").unpack_from
                for _ in range(length):
                    offs += 8 + unpack(buf, offs)[0]
            else:
                width = np.dtype(self.gguf_scalar_to_np[sub]).itemsize
                offs += width * length
            span = self._get(orig_offs, np.uint8, offs - orig_offs)
            return offs - orig_offs, [span], [], [GGUFValueType.ARRAY, sub]

    return HeaderReader


def _open(file: Path) -> Any:
    if not file.is_file():
        raise UsageError(f"{file}: no such file")
    try:
        return _reader_class()(file)
    except PermissionError:
        raise UsageError(f"{file}: permission denied") from None
    except TruncatedGguf:
        raise UsageError(f"{file} is truncated: its tensor table needs more bytes than the "
                         f"file's {file.stat().st_size:,}") from None
    except (ValueError, IndexError, KeyError, OSError, TypeError, struct.error) as exc:
        raise UsageError(f"{file} is not a readable GGUF file (truncated or another format): "
                         f"{exc}") from None


def _contents(field: Any) -> Any:
    try:
        return field.contents()
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


def spec_from_gguf(meta: dict[str, Any], tensors: GgufTensors, file: Path) -> ModelSpec:
    """Pure: metadata and tensor table → ModelSpec with the file's exact weight bytes."""
    arch_name = str(meta.get("general.architecture") or "")
    if not arch_name:
        raise UsageError(f"{file}: GGUF metadata has no general.architecture")
    arch, notes = gguf_architecture(arch_name, meta, tensors)
    quant = file_quant_name(meta, tensors)
    params = sum(tensors.elements)
    exact = exact_weights(arch, tensors, quant, str(file))
    context = _int(meta.get(f"{arch_name}.context_length")) or 0
    if not context:
        context = 4096
        notes.append("The file states no context length; 4,096 tokens assumed.")
    day = dt.date.fromtimestamp(file.stat().st_mtime).isoformat()
    return ModelSpec(
        name=file.name, provider=str(meta.get("general.organization") or "local file"),
        family=str(meta.get("general.basename") or arch_name),
        params_b=params / 1e9, active_params_b=_active_b(arch, params, tensors),
        context_length=context, release_date=day,
        license=_license(meta.get("general.license")),
        category="Embedding" if arch.kind == "encoder" else "General",
        use_case=str(meta.get("general.name") or file.stem)[:60],
        capabilities=("embedding",) if arch.kind == "encoder" else (),
        arch=arch, quants=("GGUF",), gguf_sources=(), ollama_name=None, extra_params_b=0.0,
        provenance=f"GGUF header of {file}", source_notes=tuple(notes), exact_weights=exact)


def _int(value: Any) -> int | None:
    if isinstance(value, list):
        value = max((v for v in value if isinstance(v, (int, float))), default=None)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _license(value: Any) -> str | None:
    return str(value).lower() if isinstance(value, str) and value.strip() else None


def _layer_of(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "blk" and parts[1].isdigit() else None


def _layers_with(tensors: GgufTensors, *needles: str) -> set[int]:
    return {layer for name in tensors.names for layer in [_layer_of(name)]
            if layer is not None and any(n in name for n in needles)}


def gguf_architecture(arch_name: str, meta: dict[str, Any],
                      tensors: GgufTensors) -> tuple[Architecture, list[str]]:
    """Architecture facts from `<arch>.*` metadata, checked against the tensor names."""
    def key(suffix: str) -> Any:
        return meta.get(f"{arch_name}.{suffix}")

    notes: list[str] = []
    layers = _int(key("block_count")) or 1 + max((_layer_of(n) or 0) for n in tensors.names)
    hidden = _int(key("embedding_length")) or 0
    heads = _int(key("attention.head_count")) or 1
    kv_raw = key("attention.head_count_kv")
    kv = _int(kv_raw) or heads
    head_dim = _int(key("attention.key_length")) or max(hidden // heads, 1)
    v_dim = _int(key("attention.value_length"))
    if _int(key("attention.key_length_mla")):
        # MLA files converted since 2025 describe the absorbed form: one KV "head" of
        # kv_lora_rank + rope (key_length) and kv_lora_rank (value_length); the per-head sizes
        # of the decompressed view are in key_length_mla / value_length_mla.
        kv_raw, kv = None, heads
        head_dim = _int(key("attention.key_length_mla")) or head_dim
        v_dim = _int(key("attention.value_length_mla")) or v_dim
    embd = _shape_of(tensors, "token_embd.weight")
    vocab = embd[1] if len(embd) > 1 else _int(key("vocab_size")) or 1
    attention = _layers_with(tensors, ".attn_q.", ".attn_qkv.", ".attn_k.", ".attn_q_a.",
                             ".attn_kv_a_mqa.")
    recurrent = _layers_with(tensors, ".ssm_", ".time_mix_", ".shortconv", ".conv1d")
    kind = "encoder" if arch_name in ENCODERS else "hybrid" if recurrent else "transformer"
    attention_layers = len(attention) if kind == "hybrid" else layers
    moe = _layers_with(tensors, "_exps.")
    experts = _int(key("expert_count")) if moe else None
    expert_ff = _int(key("expert_feed_forward_length")) or (_int(key("feed_forward_length")) or 0)
    shared = _int(key("expert_shared_feed_forward_length")) or (
        (_int(key("expert_shared_count")) or 0) * expert_ff if moe else 0)
    rope = _int(key("rope.dimension_count"))
    mla_rank = _int(key("attention.kv_lora_rank"))
    window = _int(key("attention.sliding_window"))
    sliding = _sliding_layers(arch_name, meta, attention_layers) if window else 0
    gated = bool(_layers_with(tensors, ".ffn_gate.", ".ffn_gate_exps.", ".ffn_gate_shexp."))
    arch = Architecture(
        kind=kind, layers=layers, hidden_size=hidden,
        intermediate_size=None if moe and len(moe) == layers else _int(key("feed_forward_length")),
        mlp="gated" if gated else "plain", attention_heads=heads, kv_heads=kv,
        head_dim=head_dim, vocab_size=vocab,
        tied_embeddings=not any(n == "output.weight" for n in tensors.names),
        attention_layers=attention_layers,
        sliding_window=window if sliding else None, sliding_window_layers=sliding,
        kv_lora_rank=mla_rank, q_lora_rank=_int(key("attention.q_lora_rank")) if mla_rank else None,
        qk_rope_head_dim=rope if mla_rank else None,
        qk_nope_head_dim=(head_dim - (rope or 0)) if mla_rank else None,
        v_head_dim=v_dim if mla_rank else None,
        experts=experts, experts_per_token=_int(key("expert_used_count")) if moe else None,
        moe_intermediate_size=expert_ff if moe else None,
        shared_expert_intermediate_size=shared if moe else 0,
        moe_layers=len(moe))
    if heads % kv:
        raise UsageError(f"GGUF metadata is inconsistent: {kv} KV heads for {heads} heads")
    if isinstance(kv_raw, list) and kind != "hybrid":
        notes.append("KV heads vary by layer; the largest count is assumed for every layer.")
    return arch, notes


def _shape_of(tensors: GgufTensors, name: str) -> tuple[int, ...]:
    for n, shape in zip(tensors.names, tensors.shapes):
        if n == name:
            return shape
    return ()


def _sliding_layers(arch_name: str, meta: dict[str, Any], attention_layers: int) -> int:
    pattern = meta.get(f"{arch_name}.attention.sliding_window_pattern")
    if isinstance(pattern, list) and pattern and all(isinstance(p, bool) for p in pattern):
        return sum(pattern)
    share = SLIDING_SHARE.get(arch_name)
    return round(attention_layers * share) if share else 0


def file_quant_name(meta: dict[str, Any], tensors: GgufTensors) -> str:
    """The file type (`general.file_type`), else the type holding most of the bytes."""
    from gguf import LlamaFileType

    raw = _int(meta.get("general.file_type"))
    if raw is not None:
        try:
            name = LlamaFileType(raw).name
        except ValueError:
            name = ""
        if name and name != "GUESSED":
            name = name.removeprefix("MOSTLY_").replace("ALL_F32", "F32")
            return "MXFP4" if name == "MXFP4_MOE" else name
    by_type: dict[str, int] = {}
    for kind, size in zip(tensors.types, tensors.nbytes):
        by_type[kind] = by_type.get(kind, 0) + size
    return max(by_type, key=lambda k: by_type[k]) if by_type else "F32"


def exact_weights(arch: Architecture, tensors: GgufTensors, quant: str, path: str) -> ExactWeights:
    """Bytes from the tensor table: total, routed experts, and what one decoded token reads."""
    total = sum(tensors.nbytes)
    routed = sum(b for n, b in zip(tensors.names, tensors.nbytes) if "_exps." in n)
    share = (arch.experts_per_token or 0) / arch.experts if arch.experts else 0.0
    active = routed * share
    embed = sum(b for n, b in zip(tensors.names, tensors.nbytes) if n == "token_embd.weight")
    unread_embed = 0 if arch.tied_embeddings else embed  # one row of it per token
    return ExactWeights(quant=quant, total_bytes=total, routed_expert_bytes=routed,
                        active_expert_bytes=active,
                        read_per_token_bytes=float(total - routed + active - unread_embed),
                        path=path)


def _active_b(arch: Architecture, params: int, tensors: GgufTensors) -> float | None:
    if not arch.is_moe:
        return None
    routed = sum(e for n, e in zip(tensors.names, tensors.elements) if "_exps." in n)
    share = (arch.experts_per_token or 0) / (arch.experts or 1)
    return (params - routed + routed * share) / 1e9
