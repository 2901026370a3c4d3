"""Pure: the KV cache's element type and sequence count, what each runtime supports, and its flags."""

from __future__ import annotations

from dataclasses import dataclass

# Bytes per cached element (api-contract.md): llama.cpp's q8_0 and q4_0 blocks hold 32 values in
# 34 and 18 bytes (a 2-byte scale + the quants); fp8 is one byte per value.
KV_BYTES_PER_ELEMENT: dict[str, float] = {"fp16": 2.0, "fp8": 1.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
KV_TYPES = tuple(KV_BYTES_PER_ELEMENT)

# What each runtime can store the cache as, and the flag that asks for it.
#   llama.cpp: --cache-type-k/-v f16|q8_0|q4_0 (no fp8 type); a quantized V cache needs
#     flash attention (-fa on).
#   vLLM: --kv-cache-dtype auto|fp8 (no integer block types).
#   MLX (mlx-lm): --kv-bits 8|4 quantizes the cache in groups of 64 (bytes close to q8_0/q4_0);
#     no fp8.
_FLAGS: dict[str, dict[str, str]] = {
    "llamacpp": {"fp16": "(default: --cache-type-k f16 --cache-type-v f16)",
                 "q8_0": "--cache-type-k q8_0 --cache-type-v q8_0 -fa on",
                 "q4_0": "--cache-type-k q4_0 --cache-type-v q4_0 -fa on"},
    "vllm": {"fp16": "(default: --kv-cache-dtype auto)", "fp8": "--kv-cache-dtype fp8"},
    "mlx": {"fp16": "(default)", "q8_0": "--kv-bits 8", "q4_0": "--kv-bits 4"},
}
_RUNTIME_LABELS = {"llamacpp": "llama.cpp", "vllm": "vLLM", "mlx": "MLX"}


@dataclass(frozen=True)
class KvCache:
    """How the KV cache is stored: element type and the number of parallel sequences."""

    kind: str = "fp16"
    sequences: int = 1

    @property
    def bytes_per_element(self) -> float:
        return KV_BYTES_PER_ELEMENT[self.kind]


FP16 = KvCache()


def supported(runtime: str, kind: str) -> bool:
    """Whether `runtime` (llamacpp, vllm, mlx) can store its KV cache as `kind`."""
    return kind in _FLAGS.get(runtime, {"fp16": ""})


def runtime_flag(runtime: str, kind: str) -> str | None:
    """The command-line flag that selects `kind` on `runtime`, or None where unsupported."""
    return _FLAGS.get(runtime, {}).get(kind)


def effective_kv(runtime: str, wanted: KvCache) -> tuple[KvCache, str | None]:
    """The cache a runtime really uses for the one asked for: unsupported types fall back to
    fp16, with a note saying so."""
    if supported(runtime, wanted.kind):
        return wanted, None
    label = _RUNTIME_LABELS.get(runtime, runtime)
    return (KvCache("fp16", wanted.sequences),
            f"{label} cannot keep the KV cache as {wanted.kind}; the figures assume fp16.")
