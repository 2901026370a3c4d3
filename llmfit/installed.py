"""Which catalog models a local runtime already has: Ollama's manifest directory.

Ollama keeps one manifest file per pulled tag at
`<models>/manifests/registry.ollama.ai/library/<name>/<tag>`, where `<models>` is
$OLLAMA_MODELS, else ~/.ollama/models (or /usr/share/ollama/.ollama/models for the Linux
service). Listing those folders is cheap and needs no running server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

LIBRARY = Path("manifests") / "registry.ollama.ai" / "library"
SERVICE_HOME = Path("/usr/share/ollama/.ollama/models")


def ollama_model_roots(env: Mapping[str, str], home: Path) -> list[Path]:
    """Folders where Ollama may keep its models, most specific first."""
    if env.get("OLLAMA_MODELS"):
        return [Path(env["OLLAMA_MODELS"]).expanduser()]
    return [home / ".ollama" / "models", SERVICE_HOME]


def read_ollama_tags(roots: list[Path]) -> frozenset[str]:
    """Every pulled `name:tag` under the given model folders (unreadable folders are skipped)."""
    tags: set[str] = set()
    for root in roots:
        library = root / LIBRARY
        try:
            models = [p for p in library.iterdir() if p.is_dir()]
            for model in models:
                tags.update(f"{model.name}:{tag.name}" for tag in model.iterdir() if tag.is_file())
        except OSError:
            continue
    return frozenset(tags)


def is_pulled(ollama_name: str | None, tags: frozenset[str]) -> bool:
    """Whether an `ollama pull` name ("llama3.1:8b", "nomic-embed-text") is among the tags."""
    if not ollama_name:
        return False
    name, _, tag = ollama_name.partition(":")
    return f"{name}:{tag or 'latest'}" in tags


def is_installed(name: str, ollama_name: str | None, keys: frozenset[str]) -> bool:
    """Whether a model is installed: its Ollama tag is pulled, or a runtime probe matched it.
    `keys` holds pulled `name:tag` tags and lower-cased catalog names (repo ids never contain
    `:`, so the two cannot collide)."""
    return name.lower() in keys or is_pulled(ollama_name, keys)


def local_ollama_tags() -> frozenset[str]:
    """Tags pulled on this machine."""
    return read_ollama_tags(ollama_model_roots(os.environ, Path.home()))


MODEL_LAYER = "application/vnd.ollama.image.model"


def ollama_blob_path(tag: str, roots: list[Path] | None = None) -> Path | None:
    """The GGUF blob of a pulled Ollama tag (`qwen3:8b`, `library/qwen3:8b`), or None."""
    import json

    name, _, version = tag.removeprefix("ollama:").partition(":")
    name = name.removeprefix("library/")
    if not name or "/" in name or name in (".", ".."):
        return None
    for root in roots or ollama_model_roots(os.environ, Path.home()):
        manifest = root / LIBRARY / name / (version or "latest")
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError, AttributeError):
            continue
        for layer in layers if isinstance(layers, list) else []:
            digest = layer.get("digest", "") if isinstance(layer, dict) else ""
            if layer.get("mediaType") == MODEL_LAYER and digest.startswith("sha256:"):
                return root / "blobs" / digest.replace(":", "-")
    return None
