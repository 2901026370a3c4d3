"""Where llmfit keeps the user's own files: the user catalog (data) and the Hub cache (cache)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "LLMFIT_HOME"


def data_dir() -> Path:
    """$LLMFIT_HOME, else the platform's user data folder + /llmfit."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "llmfit"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "llmfit"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "llmfit"


def cache_dir() -> Path:
    """$LLMFIT_HOME/cache, else the platform's user cache folder + /llmfit."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser() / "cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "llmfit"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "llmfit" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmfit"


def user_catalog_path() -> Path:
    """The user's own catalog: rows added by `llmfit add` and `llmfit update`."""
    return data_dir() / "catalog.json"
