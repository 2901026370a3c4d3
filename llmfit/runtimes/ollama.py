"""Ollama: its HTTP API at $OLLAMA_HOST (version, pulled models, models in memory), else its
manifest folder (llmfit/installed.py) when the server is down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmfit.installed import ollama_model_roots
from llmfit.runtimes.values import Findings, InstalledModel, ProbeContext, RuntimeStatus
from llmfit.runtimes.wire import Unreachable, as_dict, get_json, parse_host

NAME = "ollama"
DEFAULT_HOST = "127.0.0.1:11434"  # Ollama's own default for OLLAMA_HOST
DEFAULT_REGISTRY = ("registry.ollama.ai", "library")


def hf_repo(tag: str) -> str | None:
    """`org/name` of a tag pulled from the Hub (`hf.co/org/name:Q4_K_M`), else None."""
    for prefix in ("hf.co/", "huggingface.co/"):
        if tag.lower().startswith(prefix):
            parts = tag[len(prefix):].partition(":")[0].split("/")
            return "/".join(parts) if len(parts) == 2 and all(parts) else None
    return None


def parse_version(body: Any) -> str | None:
    """`{"version": "0.6.2"}` → "0.6.2"."""
    version = body.get("version") if isinstance(body, dict) else None
    return version if isinstance(version, str) and version else None


def _entries(body: Any) -> list[dict[str, Any]]:
    models = body.get("models") if isinstance(body, dict) else None
    return [m for m in models if isinstance(m, dict)] if isinstance(models, list) else []


def _tag(entry: dict[str, Any]) -> str | None:
    tag = entry.get("name") or entry.get("model")
    return tag if isinstance(tag, str) and tag else None


def parse_ps(body: Any) -> frozenset[str]:
    """Tags of the models in memory now (`GET /api/ps`)."""
    return frozenset(t for t in (_tag(e) for e in _entries(body)) if t)


def parse_tags(body: Any, loaded: frozenset[str] = frozenset()) -> list[InstalledModel]:
    """Pulled models (`GET /api/tags`): tag, quant (`details.quantization_level`), size."""
    found = []
    for entry in _entries(body):
        tag = _tag(entry)
        if tag is None:
            continue
        details = as_dict(entry.get("details"))
        quant = details.get("quantization_level")
        size = entry.get("size")
        found.append(InstalledModel(
            NAME, tag, quant=quant.upper() if isinstance(quant, str) and quant else None,
            size_bytes=size if isinstance(size, int) and size >= 0 else None,
            loaded=tag in loaded, repo=hf_repo(tag)))
    return found


def parse_manifest(text: str) -> tuple[int | None, str | None]:
    """(total size of the layers, digest of the config blob) of a manifest file."""
    try:
        manifest = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(manifest, dict):
        return None, None
    layers = [x for x in manifest.get("layers") or [] if isinstance(x, dict)]
    sizes = [x.get("size") for x in layers]
    total = sum(s for s in sizes if isinstance(s, int)) if layers else None
    config = as_dict(manifest.get("config"))
    digest = config.get("digest")
    return total, digest if isinstance(digest, str) and digest.startswith("sha256:") else None


def parse_config(text: str) -> str | None:
    """The quant (`file_type`) in a model's config blob."""
    try:
        config = json.loads(text)
    except ValueError:
        return None
    file_type = config.get("file_type") if isinstance(config, dict) else None
    return file_type.upper() if isinstance(file_type, str) and file_type else None


def _manifest_tag(parts: tuple[str, ...]) -> str:
    """`registry/namespace/model/tag` → the name Ollama shows (`qwen3:8b`, `hf.co/o/r:Q4_K_M`)."""
    registry, namespace, model, tag = parts
    if (registry, namespace) == DEFAULT_REGISTRY:
        return f"{model}:{tag}"
    prefix = namespace if registry == DEFAULT_REGISTRY[0] else f"{registry}/{namespace}"
    return f"{prefix}/{model}:{tag}"


def read_manifests(roots: list[Path]) -> list[InstalledModel]:
    """Every pulled model in the manifest folders, with size and quant read from its blobs."""
    found: dict[str, InstalledModel] = {}
    for root in roots:
        try:
            files = sorted(p for p in (root / "manifests").glob("*/*/*/*") if p.is_file())
        except OSError:
            continue
        for path in files:
            parts = path.relative_to(root / "manifests").parts
            tag = _manifest_tag(parts)  # type: ignore[arg-type]
            if tag not in found:
                found[tag] = _manifest_model(root, path, tag)
    return list(found.values())


def _manifest_model(root: Path, path: Path, tag: str) -> InstalledModel:
    size, quant = None, None
    try:
        size, config = parse_manifest(path.read_text(encoding="utf-8"))
        if config:  # the quant is in the config blob; a missing blob costs only the quant
            blob = root / "blobs" / config.replace(":", "-")
            quant = parse_config(blob.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        pass
    return InstalledModel(NAME, tag, quant=quant, size_bytes=size, repo=hf_repo(tag))


def probe(ctx: ProbeContext) -> Findings:
    """Ask the server; when none answers, read the manifest folder."""
    try:
        base = parse_host(ctx.env.get("OLLAMA_HOST"), DEFAULT_HOST)
    except ValueError as exc:
        return _offline(ctx, f"ollama: OLLAMA_HOST is not usable ({exc})")
    try:
        version = parse_version(get_json(f"{base}/api/version", ctx.timeout_s))
        tags = get_json(f"{base}/api/tags", ctx.timeout_s)
    except Unreachable as exc:
        return _offline(ctx, f"ollama: no server at {base} ({exc})")
    warnings: tuple[str, ...] = ()
    try:
        loaded = parse_ps(get_json(f"{base}/api/ps", ctx.timeout_s))
    except Unreachable as exc:
        loaded, warnings = frozenset(), (f"ollama: models in memory unknown ({exc})",)
    status = RuntimeStatus(NAME, installed=True, running=True, version=version, endpoint=base)
    return Findings(status, tuple(parse_tags(tags, loaded)), warnings)


def _offline(ctx: ProbeContext, reason: str) -> Findings:
    roots = ollama_model_roots(ctx.env, ctx.home)
    models = tuple(read_manifests(roots))
    installed = bool(models) or ctx.which("ollama") is not None
    if installed:
        reason += "; pulled models read from its manifest folder" if models else ""
    else:
        reason = f"ollama: not found ({reason.removeprefix('ollama: ')}, no models folder)"
    return Findings(RuntimeStatus(NAME, installed=installed), models, (reason,))
