"""Read a Hugging Face Hub repo's config.json and parameter count with `huggingface_hub`.

Honours HF_ENDPOINT and HF_TOKEN. Answers are cached as JSON in the user cache dir, so asking
about the same repo again needs no network. Only the CLI uses this: the API never reaches out.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from llmfit.errors import LlmfitError, NotFoundError, UsageError
from llmfit.paths import cache_dir

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
TIMEOUT_S = 15.0
EXPAND = ["safetensors", "createdAt", "cardData", "pipeline_tag", "sha", "gated"]


class HubError(LlmfitError):
    """The Hub could not be reached or refused the request."""

    exit_code = 1
    http_status = 502


def check_repo_id(repo: str) -> str:
    """`org/name` as the Hub spells repo ids, else a UsageError."""
    if not REPO_ID.match(repo) or ".." in repo:
        raise UsageError(f"{repo!r} is not a Hugging Face repo id (org/name)")
    return repo


def _endpoint() -> str | None:
    return os.environ.get("HF_ENDPOINT") or None


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or None


def _cache_file(repo: str) -> Path:
    return cache_dir() / "hub" / (repo.replace("/", "--") + ".json")


def read_cached(repo: str) -> dict[str, Any] | None:
    """The cached answer for a repo, or None."""
    try:
        data = json.loads(_cache_file(repo).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("config"), dict) else None


def _write_cache(repo: str, data: dict[str, Any]) -> None:
    path = _cache_file(repo)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only cache only costs a second download


def fetch_repo(repo: str, refresh: bool = False) -> dict[str, Any]:
    """{"config": config.json, "meta": {...}} for a repo: from the cache, else from the Hub."""
    check_repo_id(repo)
    if not refresh:
        cached = read_cached(repo)
        if cached is not None:
            return cached
    meta = _model_meta(repo)
    config = _download_config(repo)
    data = {"repo": repo, "config": config, "meta": meta}
    _write_cache(repo, data)
    return data


def _api() -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=_endpoint(), token=_token())


def meta_from_info(info: Any) -> dict[str, Any]:
    """The facts llmfit keeps from a ModelInfo."""
    card = getattr(info, "card_data", None)
    license_id = None
    if card is not None:
        license_id = getattr(card, "license", None) or (card.get("license") if hasattr(card, "get") else None)
    st = getattr(info, "safetensors", None)
    created = getattr(info, "created_at", None)
    return {"safetensors_total": getattr(st, "total", None) if st else None,
            "created_at": created.isoformat() if created is not None else None,
            "license": license_id if isinstance(license_id, str) else None,
            "pipeline_tag": getattr(info, "pipeline_tag", None),
            "sha": getattr(info, "sha", None), "gated": getattr(info, "gated", None),
            "downloads": getattr(info, "downloads", None)}


def _model_meta(repo: str) -> dict[str, Any]:
    with _hub_errors(repo):
        info = _api().model_info(repo, expand=EXPAND, timeout=TIMEOUT_S)
    return meta_from_info(info)


def _download_config(repo: str) -> dict[str, Any]:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # a 1 KB file needs no bar on the user's terminal
    with _hub_errors(repo):
        path = hf_hub_download(repo, "config.json", endpoint=_endpoint(), token=_token(),
                               etag_timeout=TIMEOUT_S)
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HubError(f"{repo}: config.json is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise HubError(f"{repo}: config.json is not a JSON object")
    return config


@contextlib.contextmanager
def _hub_errors(repo: str) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into one clear llmfit error."""
    from huggingface_hub import errors

    try:
        yield
    except LlmfitError:
        raise
    except errors.GatedRepoError:
        raise UsageError(f"{repo} is a gated repo: accept its licence on the Hub and set "
                         "HF_TOKEN to a token with access") from None
    except errors.RepositoryNotFoundError:
        raise NotFoundError(f"{repo}: no such model on the Hub (or it is private: set "
                            "HF_TOKEN)") from None
    except errors.EntryNotFoundError as exc:
        if isinstance(exc, errors.LocalEntryNotFoundError):
            raise HubError(f"{repo}: the Hub cannot be reached and nothing is cached "
                           f"({_short(exc)})") from None
        raise HubError(f"{repo} has no config.json: it is not a transformers model "
                       "(for a GGUF-only repo, download the file and pass its path)") from None
    except (errors.HfHubHTTPError, OSError, ValueError) as exc:
        raise HubError(f"{repo}: the Hub answered with an error ({_short(exc)})") from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore", "h11"):
            raise HubError(f"{repo}: the Hub cannot be reached ({_short(exc)})") from None
        raise


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def check_reachable() -> None:
    """One quick request (no retries) before a listing, whose client retries with back-off
    for half a minute per call when the network is down."""
    from huggingface_hub.utils import get_session

    endpoint = (_endpoint() or "https://huggingface.co").rstrip("/")
    with _hub_errors(endpoint):
        get_session().get(f"{endpoint}/api/models", params={"limit": 1}, timeout=TIMEOUT_S)


def list_top_repos(author: str, limit: int) -> list[str]:
    """The most-downloaded text-generation repos of one publisher on the Hub."""
    if not ORG.match(author):
        raise UsageError(f"{author!r} is not a Hub organisation name")
    with _hub_errors(author + "/*"):
        found = _api().list_models(author=author, pipeline_tag="text-generation",
                                   sort="downloads", limit=limit)
        return [m.id for m in found]
