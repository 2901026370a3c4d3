"""MLX: the `mlx-lm` package, and MLX models (mlx-community and other `*-mlx*` repos) in the
Hugging Face cache, read with huggingface_hub's cache scanner."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from llmfit.runtimes.naming import mlx_quant
from llmfit.runtimes.values import Findings, InstalledModel, ProbeContext, RuntimeStatus

NAME = "mlx"
PACKAGES = ("mlx-lm", "mlx")


def hub_cache_dir(env: Mapping[str, str], home: Path) -> Path:
    """$HF_HUB_CACHE, else $HF_HOME/hub, else the XDG cache folder (huggingface_hub's order)."""
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    return Path(env.get("XDG_CACHE_HOME") or home / ".cache") / "huggingface" / "hub"


def is_mlx_repo(repo_id: str) -> bool:
    """mlx-community's repos, and repos that say MLX in their name."""
    return "mlx" in repo_id.lower()


def scan_mlx_models(cache: Path) -> list[InstalledModel]:
    """MLX model repos in a Hugging Face cache (the scanner is imported only when one is there)."""
    try:
        if not any(is_mlx_repo(p.name) for p in cache.glob("models--*")):
            return []
    except OSError:
        return []
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache)
    except (CacheNotFound, OSError, ValueError):
        return []
    return [InstalledModel(NAME, r.repo_id, quant=mlx_quant(r.repo_id), size_bytes=r.size_on_disk,
                           repo=r.repo_id)
            for r in sorted(info.repos, key=lambda r: r.repo_id.lower())
            if r.repo_type == "model" and is_mlx_repo(r.repo_id)]


def probe(ctx: ProbeContext) -> Findings:
    """The package and the cached models (no server: mlx_lm.server has no fixed address)."""
    version = next((v for v in map(ctx.version_of, PACKAGES) if v), None)
    models = tuple(scan_mlx_models(hub_cache_dir(ctx.env, ctx.home)))
    if version is None and not models:
        return Findings(RuntimeStatus(NAME), (), ("mlx: not found (no mlx-lm package, no MLX "
                                                  "models in the Hugging Face cache)",))
    return Findings(RuntimeStatus(NAME, installed=True, version=version), models)
