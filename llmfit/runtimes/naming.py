"""Pure: what a file or repo name says about its quantization and origin.

GGUF file names carry llama.cpp's quant type (`Qwen2.5-7B-Instruct-Q4_K_M.gguf`); MLX repos carry
a bit width (`mlx-community/Qwen2.5-7B-Instruct-4bit`), shown as the catalog's `mlx-4bit`.
"""

from __future__ import annotations

import re

# llama.cpp file types (ggml-org/llama.cpp, `llama-quantize --help`), longest alternatives first.
_GGUF_QUANT = re.compile(
    r"(?<![A-Za-z0-9])(IQ[1-4]_(?:XXS|XS|S|M|NL)|Q[2-8]_K_(?:XL|S|M|L)|Q[2-8]_K|Q[4-8]_[01]|"
    r"TQ[12]_0|MXFP4(?:_MOE)?|BF16|F16|F32)(?![A-Za-z0-9])", re.IGNORECASE)
_MLX_BITS = re.compile(r"(?<![A-Za-z0-9])(?:mlx-)?([2-8])-?bit(?![A-Za-z0-9])", re.IGNORECASE)
_MLX_FLOAT = re.compile(r"(?<![A-Za-z0-9])(bf16|fp16)(?![A-Za-z0-9])", re.IGNORECASE)


def gguf_quant(name: str) -> str | None:
    """The quant type a GGUF file or tag name carries (`Q4_K_M`), upper-cased, else None."""
    found = _GGUF_QUANT.findall(name.replace(".", "-"))
    return found[-1].upper() if found else None


def mlx_quant(name: str) -> str | None:
    """`mlx-4bit` from `...-4bit`, `mlx-bf16` from `...-bf16`, else None."""
    bits = _MLX_BITS.findall(name)
    if bits:
        return f"mlx-{bits[-1]}bit"
    floats = _MLX_FLOAT.findall(name)
    return f"mlx-{floats[-1].lower()}" if floats else None


def repo_from_cache_dir(folder: str) -> str | None:
    """`org/name` from a Hugging Face cache folder name `models--org--name`."""
    if not folder.startswith("models--"):
        return None
    owner, sep, name = folder[len("models--"):].partition("--")
    return f"{owner}/{name}" if sep and owner and name else None
