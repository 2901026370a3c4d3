"""Turn what the user names (a catalog model, a Hub repo id, a .gguf path, a pulled Ollama tag)
into one ModelSpec. CLI only: the API serves the catalogs and never follows a client's path."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Union

from llmfit.catalog import ModelSpec, parse_row
from llmfit.errors import NotFoundError, UsageError


@dataclass(frozen=True)
class Resolved:
    """A model and where it came from: "catalog", "hub", "gguf" or "ollama"."""

    model: ModelSpec
    origin: str
    row: dict | None = None  # the catalog row a Hub model would be stored as (`llmfit add`)


def find_in_catalog(name: str, catalog: list[ModelSpec]) -> ModelSpec | None:
    """Exact name (case-insensitive), else a unique substring match; several: UsageError."""
    needle = name.strip().lower()
    exact = [m for m in catalog if m.name.lower() == needle]
    if exact:
        return exact[0]
    short = [m for m in catalog if m.name.lower().split("/", 1)[-1] == needle]
    if len(short) == 1:
        return short[0]
    partial = [m for m in catalog if needle in m.name.lower()]
    if len(partial) == 1:
        return partial[0]
    if len(partial) > 1 and "/" not in needle:
        names = ", ".join(m.name for m in partial[:10])
        more = f" and {len(partial) - 10} more" if len(partial) > 10 else ""
        raise UsageError(f"{name!r} matches {len(partial)} models: {names}{more}; "
                         "give the full name")
    return None


Catalog = Union[list[ModelSpec], Callable[[], list[ModelSpec]]]


def resolve_source(source: str, catalog: Catalog, refresh: bool = False) -> Resolved:
    """SOURCE of `llmfit info`/`add`: path, `ollama:TAG`, `hf:org/name`, catalog name, repo id.
    `catalog` may be a loader, called only when the source is not a file."""
    text = source.strip()
    if not text:
        raise UsageError("name a model: a catalog name, a Hub repo id (org/name) or a .gguf path")
    path = Path(text).expanduser()
    if path.is_dir():
        raise UsageError(f"{text} is a directory: pass a .gguf file, a Hub repo id or a catalog name")
    if text.lower().endswith(".gguf") or path.is_file():
        from llmfit.gguf_file import read_gguf

        return Resolved(read_gguf(path), "gguf")
    if text.startswith("ollama:"):
        return _ollama(text)
    if text.startswith("hf:"):
        return _hub(text[3:], refresh)
    found = find_in_catalog(text, catalog() if callable(catalog) else catalog)
    if found is not None:
        return Resolved(found, "catalog")
    if text.count("/") == 1:
        return _hub(text, refresh)
    raise NotFoundError(f"no model {text!r} in the catalog; give a Hub repo id (org/name), "
                        "a .gguf path or ollama:TAG")


def _hub(repo: str, refresh: bool) -> Resolved:
    from llmfit.hf_config import row_from_config
    from llmfit.hub import fetch_repo

    data = fetch_repo(repo.strip(), refresh=refresh)
    row = row_from_config(data.get("repo", repo), data["config"], data.get("meta") or {})
    return Resolved(parse_row(row), "hub", row)


def _ollama(tag: str) -> Resolved:
    from llmfit.gguf_file import read_gguf
    from llmfit.installed import ollama_blob_path

    blob = ollama_blob_path(tag)
    if blob is None:
        raise NotFoundError(f"{tag}: not pulled in the local Ollama (no manifest found)")
    name = tag.removeprefix("ollama:")
    return Resolved(replace(read_gguf(blob), name=name, ollama_name=name), "ollama")


def resolve_local_gguf(source: str, catalog: Catalog) -> tuple[ModelSpec, str]:
    """A GGUF to benchmark and the name to keep its result under (the catalog name where the
    file is a pulled Ollama tag of a catalog model)."""
    text = source.strip()
    is_file = text.lower().endswith(".gguf") or Path(text).expanduser().is_file()
    if is_file or text.startswith("ollama:"):
        model = resolve_source(text, []).model
        models = catalog() if callable(catalog) else catalog
        match = _catalog_for_tag(models, model.ollama_name)
        return model, match or model.name
    models = catalog() if callable(catalog) else catalog
    found = find_in_catalog(text, models)
    if found is None or not found.ollama_name:
        raise UsageError(f"no local GGUF of {text!r} found: pass the .gguf path or ollama:TAG")
    try:
        return resolve_source("ollama:" + found.ollama_name, []).model, found.name
    except NotFoundError:
        raise UsageError(f"no local GGUF of {found.name} found ({found.ollama_name} is not "
                         "pulled in Ollama): pass the .gguf path or ollama:TAG") from None


def _catalog_for_tag(models: list[ModelSpec], tag: str | None) -> str | None:
    if not tag:
        return None

    def full(t: str) -> str:
        return t if ":" in t else t + ":latest"

    hits = [m.name for m in models if m.ollama_name and full(m.ollama_name) == full(tag)]
    return hits[0] if hits else None
