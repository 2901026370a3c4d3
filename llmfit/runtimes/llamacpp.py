"""llama.cpp: `llama-server`/`llama-cli` on PATH and their version, a running llama-server
($LLAMA_SERVER_HOST: `/props`, `/v1/models`), and the GGUF files `-hf` downloads keep in its cache
folder ($LLAMA_CACHE, else the platform cache folder)."""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from llmfit.runtimes.naming import gguf_quant, repo_from_cache_dir
from llmfit.runtimes.values import Findings, InstalledModel, ProbeContext, RuntimeStatus
from llmfit.runtimes.wire import Unreachable, as_dict, get_json, parse_host, parse_openai_models

NAME = "llamacpp"
DEFAULT_HOST = "127.0.0.1:8080"  # llama-server's default --host and --port
HOST_ENV = "LLAMA_SERVER_HOST"
BINARIES = ("llama-server", "llama-cli")
MAX_FILES = 2000  # a cache folder is walked at most this far
_VERSION = re.compile(r"version:\s*(\d+)")
_BUILD = re.compile(r"^b?(\d+)")
_SPLIT = re.compile(r"-(\d{5})-of-\d{5}(?=\.gguf$)", re.IGNORECASE)


def parse_version_output(text: str) -> str | None:
    """`version: 5412 (2d451c80)` (what `llama-server --version` prints) → "b5412"."""
    found = _VERSION.search(text)
    return f"b{found.group(1)}" if found else None


def parse_props(body: Any) -> tuple[str | None, str | None]:
    """(version from `build_info`, `model_path`) of a llama-server's `GET /props`."""
    if not isinstance(body, dict):
        return None, None
    build = body.get("build_info")
    found = _BUILD.match(build) if isinstance(build, str) else None
    path = body.get("model_path")
    version = f"b{found.group(1)}" if found else None
    return version, path if isinstance(path, str) and path else None


def parse_models(body: Any, model_path: str | None = None) -> list[InstalledModel]:
    """The models a llama-server has loaded (`GET /v1/models`; `meta.size` is bytes)."""
    found, entries = [], parse_openai_models(body)
    for entry in entries:
        meta = as_dict(entry.get("meta"))
        size = meta.get("size")
        name = Path(model_path if model_path and len(entries) == 1 else entry["id"]).name
        found.append(InstalledModel(NAME, name, quant=gguf_quant(name), loaded=True,
                                    size_bytes=size if isinstance(size, int) and size > 0
                                    else None))
    return found


def parse_cache_manifest(file_name: str, text: str) -> tuple[str, str] | None:
    """(repo, cached file name) from llama.cpp's `manifest=ORG=REPO=TAG.json`: the file `-hf`
    stored is `ORG_REPO_<ggufFile.rfilename>`."""
    import json

    parts = file_name.removesuffix(".json").split("=")
    if len(parts) != 4 or parts[0] != "manifest":
        return None
    try:
        rfilename = json.loads(text).get("ggufFile", {}).get("rfilename")
    except (ValueError, AttributeError):
        return None
    if not isinstance(rfilename, str):
        return None
    return f"{parts[1]}/{parts[2]}", f"{parts[1]}_{parts[2]}_{rfilename.replace('/', '_')}"


def cache_dirs(env: Mapping[str, str], home: Path, platform: str = sys.platform) -> list[Path]:
    """$LLAMA_CACHE, and the platform folder llama.cpp uses without it."""
    if platform == "darwin":
        default = home / "Library" / "Caches" / "llama.cpp"
    elif platform.startswith("win"):
        default = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local") / "llama.cpp"
    else:
        default = Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "llama.cpp"
    dirs = [Path(env["LLAMA_CACHE"]).expanduser()] if env.get("LLAMA_CACHE") else []
    return dirs + ([default] if default not in dirs else [])


def scan_gguf_files(folder: Path) -> list[InstalledModel]:
    """GGUF models under `folder` (split files counted once, with their total size; projector
    files left out), the repo read from llama.cpp's manifests or a Hub cache path."""
    repos: dict[str, str] = {}
    totals: dict[Path, tuple[str, int]] = {}
    try:
        for path in sorted(folder.glob("manifest=*.json"))[:MAX_FILES]:
            text = path.read_text(encoding="utf-8", errors="replace")
            pair = parse_cache_manifest(path.name, text)
            if pair:
                repos[pair[1]] = pair[0]
        for count, path in enumerate(folder.rglob("*.gguf")):
            if count >= MAX_FILES:
                break
            if "mmproj" in path.name.lower() or not path.is_file():
                continue
            key = path.with_name(_SPLIT.sub("", path.name))
            name, size = totals.get(key, (key.name, 0))
            totals[key] = (name, size + path.stat().st_size)
    except OSError:
        pass
    return [InstalledModel(NAME, name, quant=gguf_quant(name), size_bytes=size,
                           repo=repos.get(name) or _hub_repo(key))
            for key, (name, size) in sorted(totals.items())]


def _hub_repo(path: Path) -> str | None:
    return next((r for r in map(repo_from_cache_dir, path.parts) if r), None)


def probe(ctx: ProbeContext) -> Findings:
    """Programs on PATH, a running server, and the cache folders."""
    binary = next((b for b in map(ctx.which, BINARIES) if b), None)
    output = ctx.run([binary, "--version"], 2 * ctx.timeout_s) if binary else None
    version = parse_version_output(output or "")
    models = [m for d in cache_dirs(ctx.env, ctx.home) for m in scan_gguf_files(d)]
    warnings: list[str] = []
    running, endpoint = False, None
    try:
        endpoint = parse_host(ctx.env.get(HOST_ENV), DEFAULT_HOST)
        server_version, model_path = parse_props(get_json(f"{endpoint}/props", ctx.timeout_s))
        served = parse_models(get_json(f"{endpoint}/v1/models", ctx.timeout_s), model_path)
        running, version = True, version or server_version
        models = _merge_loaded(models, served)
    except ValueError as exc:
        warnings.append(f"llamacpp: {HOST_ENV} is not usable ({exc})")
    except Unreachable as exc:
        warnings.append(f"llamacpp: no llama-server at {endpoint} ({exc})")
    installed = bool(binary or models or running)
    if not installed:
        warnings = [f"llamacpp: not found (no llama-server or llama-cli on PATH, no GGUF files in "
                    f"its cache, {warnings[0].removeprefix('llamacpp: ')})"]
    status = RuntimeStatus(NAME, installed, running, version, endpoint if running else None)
    return Findings(status, tuple(models), tuple(warnings))


def _merge_loaded(cached: list[InstalledModel],
                  served: list[InstalledModel]) -> list[InstalledModel]:
    """Cached files the server has loaded say so; loaded models from elsewhere are added."""
    loaded = {m.name: m for m in served}
    merged = [replace(m, loaded=True) if m.name in loaded else m for m in cached]
    return merged + [m for m in served if m.name not in {c.name for c in cached}]
