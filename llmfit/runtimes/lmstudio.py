"""LM Studio: its models folder (`publisher/repo/` holding GGUF files or an MLX model) and, when
it runs, its local server at $LMSTUDIO_HOST (`/api/v0/models`: every model with its state)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from llmfit.runtimes.match import base_name
from llmfit.runtimes.naming import gguf_quant, mlx_quant
from llmfit.runtimes.values import Findings, InstalledModel, ProbeContext, RuntimeStatus
from llmfit.runtimes.wire import Unreachable, get_json, parse_host, parse_openai_models

NAME = "lmstudio"
DEFAULT_HOST = "127.0.0.1:1234"  # LM Studio's server default
MAX_REPOS = 2000


def model_dirs(home: Path) -> list[Path]:
    """The models folder named by ~/.lmstudio-home-pointer, ~/.lmstudio/models, and the folder
    of versions before 0.3 (~/.cache/lm-studio/models)."""
    dirs = [home / ".lmstudio" / "models", home / ".cache" / "lm-studio" / "models"]
    try:
        pointed = (home / ".lmstudio-home-pointer").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        pointed = ""
    if pointed:
        dirs.insert(0, Path(pointed).expanduser() / "models")
    return list(dict.fromkeys(dirs))


def _mlx_bits(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        bits = (config.get("quantization") or {}).get("bits")
    except (OSError, ValueError, AttributeError):
        return None
    return f"mlx-{bits}bit" if isinstance(bits, int) else None


def scan_models_dir(root: Path) -> list[InstalledModel]:
    """One entry per GGUF file (`publisher/repo/file.gguf`) and per MLX folder."""
    found: list[InstalledModel] = []
    try:
        repos = sorted(p for p in root.glob("*/*") if p.is_dir())[:MAX_REPOS]
        for folder in repos:
            repo = f"{folder.parent.name}/{folder.name}"
            files = sorted(p for p in folder.iterdir() if p.is_file())
            ggufs = [p for p in files
                     if p.suffix.lower() == ".gguf" and "mmproj" not in p.name.lower()]
            found += [InstalledModel(NAME, f"{repo}/{p.name}", quant=gguf_quant(p.name),
                                     size_bytes=p.stat().st_size, repo=repo) for p in ggufs]
            weights = [p for p in files if p.suffix == ".safetensors"]
            if weights and not ggufs:
                found.append(InstalledModel(NAME, repo, quant=_mlx_bits(folder) or mlx_quant(repo),
                                            size_bytes=sum(p.stat().st_size for p in weights),
                                            repo=repo))
    except OSError:
        pass
    return found


def parse_api_models(body: Any) -> list[InstalledModel]:
    """`GET /api/v0/models` (or `/v1/models`, without states): id, quantization, loaded."""
    found = []
    for entry in parse_openai_models(body):
        raw = entry.get("quantization")
        quant = raw if isinstance(raw, str) and raw else None
        if quant and entry.get("compatibility_type") == "mlx":
            quant = mlx_quant(quant) or quant
        found.append(InstalledModel(NAME, entry["id"], quant=gguf_quant(quant or "") or quant,
                                    loaded=entry.get("state") == "loaded"))
    return found


def merge_server(files: list[InstalledModel], served: list[InstalledModel]) -> list[InstalledModel]:
    """Folder entries the server has loaded say so; what it lists beyond the folder is added."""
    loaded = {base_name(m.name) for m in served if m.loaded}
    merged = [replace(m, loaded=base_name(m.repo or m.name) in loaded) for m in files]
    known = {base_name(m.repo or m.name) for m in files}
    return merged + [m for m in served if base_name(m.name) not in known]


def probe(ctx: ProbeContext) -> Findings:
    """The models folder, and the server when it answers."""
    dirs = [d for d in model_dirs(ctx.home) if d.is_dir()]
    files = [m for d in dirs for m in scan_models_dir(d)]
    try:
        endpoint = parse_host(ctx.env.get("LMSTUDIO_HOST"), DEFAULT_HOST)
    except ValueError as exc:
        return _result(ctx, dirs, files, f"lmstudio: LMSTUDIO_HOST is not usable ({exc})")
    try:
        body = _server_models(endpoint, ctx.timeout_s)
    except Unreachable as exc:
        return _result(ctx, dirs, files, f"lmstudio: no server at {endpoint} ({exc})")
    status = RuntimeStatus(NAME, installed=True, running=True, endpoint=endpoint)
    return Findings(status, tuple(merge_server(files, parse_api_models(body))))


def _server_models(endpoint: str, timeout_s: float) -> Any:
    try:
        return get_json(f"{endpoint}/api/v0/models", timeout_s)
    except Unreachable as exc:
        if not str(exc).startswith("HTTP "):  # no server at all: do not wait twice
            raise
        return get_json(f"{endpoint}/v1/models", timeout_s)


def _result(ctx: ProbeContext, dirs: list[Path], files: list[InstalledModel],
            reason: str) -> Findings:
    installed = bool(dirs) or ctx.which("lms") is not None
    if not installed:
        reason = f"lmstudio: not found (no models folder, {reason.removeprefix('lmstudio: ')})"
    return Findings(RuntimeStatus(NAME, installed=installed), tuple(files), (reason,))
