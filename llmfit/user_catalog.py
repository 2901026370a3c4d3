"""The user's own catalog (`llmfit add`, `llmfit remove`, `llmfit update`): one JSON file in the
user data dir ($LLMFIT_HOME overrides) with the shape of models.json. Every command and
`llmfit serve` load it after the shipped catalog; the shipped models.json is never written."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from llmfit.catalog import parse_row, read_catalog_file
from llmfit.errors import CatalogError, NotFoundError
from llmfit.paths import user_catalog_path


def read_user_rows(path: Path | None = None) -> list[dict[str, Any]]:
    """The raw rows of the user catalog ([] when there is none yet)."""
    path = path or user_catalog_path()
    if not path.is_file():
        return []
    read_catalog_file(path)  # validates, with a clear error for a broken file
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["models"] if isinstance(data, dict) else data)


def _write(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"schema_version": 1, "models": rows}, indent=1) + "\n",
                       encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise CatalogError(f"cannot write the user catalog {path}: {exc.strerror or exc}") from None


def add_rows(new: list[dict[str, Any]], path: Path | None = None) -> tuple[int, int]:
    """Store rows (validated), replacing same-name rows; returns (added, replaced)."""
    path = path or user_catalog_path()
    for row in new:
        parse_row(row)
    rows = read_user_rows(path)
    index = {r["name"].lower(): i for i, r in enumerate(rows)}
    added = replaced = 0
    for row in new:
        key = row["name"].lower()
        if key in index:
            rows[index[key]] = row
            replaced += 1
        else:
            index[key] = len(rows)
            rows.append(row)
            added += 1
    _write(rows, path)
    return added, replaced


def remove_row(name: str, path: Path | None = None) -> str:
    """Take a row out of the user catalog by name (case-insensitive); returns the stored name."""
    path = path or user_catalog_path()
    rows = read_user_rows(path)
    kept = [r for r in rows if r["name"].lower() != name.strip().lower()]
    if len(kept) == len(rows):
        raise NotFoundError(f"{name!r} is not in the user catalog ({path}); only models added "
                            "with `llmfit add` or `llmfit update` can be removed")
    _write(kept, path)
    return next(r["name"] for r in rows if r["name"].lower() == name.strip().lower())
