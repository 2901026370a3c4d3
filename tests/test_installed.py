"""`installed`: models already pulled into the local Ollama, found from its manifest folders."""

from __future__ import annotations

from pathlib import Path

from conftest import cpu_box
from llmfit.installed import LIBRARY, is_pulled, ollama_model_roots, read_ollama_tags
from llmfit.query import parse_query


def pull(root: Path, name: str, tag: str) -> None:
    folder = root / LIBRARY / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / tag).write_text('{"schemaVersion": 2}')


def test_tags_are_read_from_the_manifest_tree(tmp_path):
    pull(tmp_path, "llama3.1", "8b")
    pull(tmp_path, "nomic-embed-text", "latest")
    (tmp_path / LIBRARY / "qwen3" / "partial").mkdir(parents=True)  # a folder, not a manifest
    tags = read_ollama_tags([tmp_path, tmp_path / "missing"])
    assert tags == frozenset({"llama3.1:8b", "nomic-embed-text:latest"})
    assert is_pulled("llama3.1:8b", tags) and is_pulled("nomic-embed-text", tags)
    assert not is_pulled("llama3.1:70b", tags) and not is_pulled(None, tags)


def test_model_folder_follows_ollama_models_variable(tmp_path):
    assert ollama_model_roots({"OLLAMA_MODELS": str(tmp_path)}, Path("/home/u")) == [tmp_path]
    assert ollama_model_roots({}, Path("/home/u"))[0] == Path("/home/u/.ollama/models")


def test_rows_say_installed(service_for, tmp_path):
    pull(tmp_path, "llama3.1", "8b")
    service = service_for(cpu_box(), pulled_probe=lambda: read_ollama_tags([tmp_path]))
    rows = service.models_body(parse_query({}))["models"]
    installed = [r["name"] for r in rows if r["installed"]]
    assert installed == ["meta-llama/Llama-3.1-8B-Instruct"]
