"""Pure: map what runtimes hold to catalog rows.

In order: an Ollama tag equal to a row's `ollama_name` (`qwen3:8b`; `qwen3:8b-q4_K_M` and
`qwen3:8b-instruct-fp16` count as `qwen3:8b`); a repo equal to a row's name or one of its
`gguf_sources`; a llama.cpp cache file named after a GGUF source (`ORG_REPO_file.gguf`); last, a
repo whose name without its format suffix (`-GGUF`, `-4bit`, `-MLX`) names exactly one row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable

from llmfit.catalog import ModelSpec
from llmfit.runtimes.naming import gguf_quant
from llmfit.runtimes.values import InstalledModel, RuntimeReport

_FORMAT_SUFFIX = re.compile(r"[-_.](gguf|mlx|[2-8]-?bit|bf16|fp16|f16|awq|gptq|fp8)$",
                            re.IGNORECASE)


def ollama_key(tag: str) -> str:
    """`name:tag` with Ollama's default tag filled in, lower case."""
    name, _, tag_part = tag.strip().lower().partition(":")
    return f"{name.removeprefix('library/')}:{tag_part or 'latest'}"


def base_name(repo: str) -> str:
    """`Qwen/Qwen2.5-7B-Instruct-GGUF` → `qwen2.5-7b-instruct` (no owner, no format suffix)."""
    base = repo.rstrip("/").split("/")[-1].lower().removesuffix(".gguf")
    while _FORMAT_SUFFIX.search(base):
        base = _FORMAT_SUFFIX.sub("", base)
    quant = gguf_quant(base)
    return base[: base.rfind(quant.lower())].rstrip("-_.") if quant else base


@dataclass(frozen=True)
class CatalogIndex:
    """Lookups from runtime names to catalog names."""

    by_ollama: dict[str, str]
    by_repo: dict[str, str]
    by_file_prefix: dict[str, str]
    by_base: dict[str, str | None]  # None: more than one row has this base name

    @classmethod
    def build(cls, rows: Iterable[ModelSpec]) -> "CatalogIndex":
        by_ollama: dict[str, str] = {}
        by_repo: dict[str, str] = {}
        prefixes: dict[str, str] = {}
        by_base: dict[str, str | None] = {}
        for row in rows:
            if row.ollama_name:
                by_ollama.setdefault(ollama_key(row.ollama_name), row.name)
            for repo in [row.name] + [s.repo for s in row.gguf_sources]:
                by_repo.setdefault(repo.lower(), row.name)
                prefixes.setdefault(repo.lower().replace("/", "_") + "_", row.name)
            base = base_name(row.name)
            by_base[base] = row.name if by_base.get(base, row.name) == row.name else None
        return cls(by_ollama, by_repo, prefixes, by_base)

    def catalog_name(self, item: InstalledModel) -> str | None:
        """The catalog row this installed model is, or None."""
        if item.runtime == "ollama":
            found = self._ollama(item.name)
            if found:
                return found
        for repo in (item.repo, item.name if item.name.count("/") == 1 else None):
            if repo and repo.lower() in self.by_repo:
                return self.by_repo[repo.lower()]
        lower = item.name.lower()
        for prefix, name in self.by_file_prefix.items():
            if lower.startswith(prefix):
                return name
        candidate = item.repo or (item.name if item.runtime != "ollama" else None)
        return self.by_base.get(base_name(candidate)) if candidate else None

    def _ollama(self, tag: str) -> str | None:
        key = ollama_key(tag)
        if key in self.by_ollama:
            return self.by_ollama[key]
        name, _, variant = key.partition(":")
        return self.by_ollama.get(f"{name}:{variant.split('-')[0]}")


def match_report(report: RuntimeReport, rows: Iterable[ModelSpec]) -> RuntimeReport:
    """The report with each model's `catalog_name` filled where a row matches."""
    index = CatalogIndex.build(rows)
    return report.with_models(tuple(replace(m, catalog_name=index.catalog_name(m))
                                    for m in report.models))
