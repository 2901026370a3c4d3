"""The GPU device database: names and PCI ids -> VRAM, memory bandwidth and backend.

Matching is by whole tokens, never by substring: "Quadro T400" is not a "T4" and "Tesla M40"
is not an "Apple M4". Vendor words are dropped, and the alias that covers the most tokens of
the name wins; rows sharing an alias are told apart by VRAM.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass

# Words that say who made a card, not which card it is.
# fmt: off
_NOISE_TOKENS = frozenset([
    "nvidia", "geforce", "rtx", "gtx", "amd", "ati", "radeon", "instinct", "intel", "arc",
    "apple", "tesla", "quadro", "graphics", "gpu", "generation", "corporation", "inc", "r", "tm",
])
# fmt: on
# Tokens that make a different, usually slower or smaller, part: when one of them is left
# over after the best alias matched, the name is a variant the table lacks (e.g. an
# "RTX 3050 Ti Laptop GPU" must not borrow the desktop RTX 3050's bandwidth).
_VARIANT_TOKENS = frozenset(
    ["laptop", "maxq", "ti", "super", "pro", "max", "ultra", "nvl", "gre", "ada", "blackwell"]
)
# A vendor word in the name rules out other vendors' rows ("Tesla M4" is no Apple M4).
_VENDOR_WORDS = {
    "nvidia": "CUDA",
    "geforce": "CUDA",
    "tesla": "CUDA",
    "quadro": "CUDA",
    "amd": "ROCm",
    "radeon": "ROCm",
    "instinct": "ROCm",
    "intel": "SYCL",
    "arc": "SYCL",
    "apple": "Metal",
}
_SYNONYMS = {"sxm2": "sxm", "sxm4": "sxm", "sxm5": "sxm", "mobile": "laptop", "notebook": "laptop"}
_SIZE_TOKEN = re.compile(r"^(\d+)gb$")


@dataclass(frozen=True)
class GpuModel:
    """One row of the device database."""

    name: str
    vram_gib: float
    bandwidth_gbps: float
    backend: str  # "CUDA", "ROCm", "Metal", "SYCL"
    unified_memory: bool = False
    pci_ids: tuple[str, ...] = ()  # "vendor:device", lower-case hex without 0x
    fp16_tflops: float | None = None  # peak dense FP16 matrix throughput (prompt processing)


@dataclass(frozen=True)
class _Row:
    model: GpuModel
    aliases: tuple[str, ...]  # display spellings, the name first
    keys: tuple[frozenset[str], ...]  # their token sets


def name_tokens(text: str) -> frozenset[str]:
    """The matching key of a GPU name: lower-case whole tokens without vendor words."""
    return frozenset(_token_list(text))


def _token_list(text: str) -> list[str]:
    text = text.lower().replace("®", " ").replace("™", " ")
    text = re.sub(r"\((r|tm)\)", " ", text)
    text = text.replace("max-q", "maxq").replace("pci-e", "pcie")
    text = re.sub(r"\b(rtx|gtx|rx)(?=\d)", r"\1 ", text)
    text = re.sub(r"\b(\d+)\s*(?:gb|gib|g)\b", r"\1gb", text)
    tokens = (_SYNONYMS.get(t, t) for t in re.split(r"[^a-z0-9]+", text))
    return [t for t in tokens if t and t not in _NOISE_TOKENS]


@functools.cache
def _rows() -> tuple[_Row, ...]:
    from importlib import resources

    text = resources.files("llmfit").joinpath("data/gpus.csv").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple(_parse_row(record) for record in csv.DictReader(lines))


def _parse_row(record: dict[str, str]) -> _Row:
    model = GpuModel(
        name=record["name"].strip(),
        vram_gib=float(record["vram_gib"]),
        bandwidth_gbps=float(record["bandwidth_gbps"]),
        backend=record["backend"].strip(),
        unified_memory=record["unified_memory"].strip().lower() == "true",
        pci_ids=tuple(p.strip().lower() for p in record["pci_ids"].split("|") if p.strip()),
        fp16_tflops=float(record["fp16_tflops"]) if (record.get("fp16_tflops") or "").strip() else None,
    )
    extra = [a.strip() for a in record["aliases"].split("|") if a.strip()]
    aliases = (model.name, *extra)
    return _Row(model, aliases, tuple(name_tokens(a) for a in aliases))


def all_gpus() -> tuple[GpuModel, ...]:
    """Every device in the database, in table order."""
    return tuple(row.model for row in _rows())


def lookup_gpu(name: str, vram_gib: float | None = None) -> GpuModel | None:
    """The database row for a GPU name as NVML, rocm-smi or a user writes it, or None."""
    query = name_tokens(name)
    if not query:
        return None
    backends = {_VENDOR_WORDS[w] for w in re.findall(r"[a-z]+", name.lower()) if w in _VENDOR_WORDS}
    rows = [row for row in _rows() if not backends or row.model.backend in backends]
    scored = [(key, row) for row in rows if (key := _best_key(row, query)) is not None]
    top = max((len(key) for key, _ in scored), default=0)
    tied = [(key, row.model) for key, row in scored if len(key) == top]
    # Tokens no tied alias explains: a variant the table lacks ("3050 Ti Laptop" is no 3050).
    unexplained = query.difference(*(key for key, _ in tied))
    if not tied or unexplained & _VARIANT_TOKENS:
        return None
    hint = vram_gib if vram_gib is not None else _size_hint(query)
    return _closest_vram([model for _, model in tied], hint)


def _best_key(row: _Row, query: frozenset[str]) -> frozenset[str] | None:
    """The longest alias of `row` whose tokens all occur in `query`."""
    matching = [key for key in row.keys if key and key <= query]
    return max(matching, key=len, default=None)


def _size_hint(query: frozenset[str]) -> float | None:
    """A memory size written in the name ("A100-PCIE-40GB"), used to break ties."""
    sizes = [float(m.group(1)) for t in query if (m := _SIZE_TOKEN.match(t))]
    return sizes[0] if len(sizes) == 1 else None


def _closest_vram(models: list[GpuModel], vram_gib: float | None) -> GpuModel:
    if vram_gib is None:
        return models[0]
    return min(models, key=lambda m: abs(m.vram_gib - vram_gib))  # min keeps table order on ties


def lookup_gpu_by_pci(pci_id: str, vram_gib: float | None = None) -> GpuModel | None:
    """The database row for a PCI id such as "1002:744c" (VRAM picks among shared ids)."""
    wanted = pci_id.lower().replace("0x", "")
    models = [row.model for row in _rows() if wanted in row.model.pci_ids]
    return _closest_vram(models, vram_gib) if models else None


def suggest_gpu_names(name: str, limit: int = 3) -> list[str]:
    """Database names close to a name that did not match, best first."""
    import difflib

    spellings = {_plain(a): row.model.name for row in _rows() for a in row.aliases}
    close = difflib.get_close_matches(_plain(name), list(spellings), n=limit * 3, cutoff=0.5)
    return list(dict.fromkeys(spellings[c] for c in close))[:limit]


def _plain(text: str) -> str:
    return " ".join(_token_list(text))


# GPU generations by the device table's names: cards of one generation share their kernels'
# behaviour, so a card without measurements of its own borrows its generation's (scripts/
# calibrate.py, data/generations.csv). Apple chips have none: their Pro/Max/Ultra tiers differ
# more than their generations. Unified-memory PCs are their own generation.
# fmt: off
_GENERATIONS = (  # first match wins: "Quadro RTX 5000" is Turing, "RTX 5000 Ada" Ada
    (r"\bquadro rtx\b", "turing"), (r"\bada generation\b", "ada"),
    (r"\brx 7\d{3}|\bpro w7\d{3}", "rdna3"), (r"\brx 9\d{3}|\br9700\b", "rdna4"),
    (r"\brx 6\d{3}", "rdna2"), (r"\b80[56]0s\b", "rdna3.5-apu"), (r"\bmi3[02]\d", "cdna3"),
    (r"\bmi2\d0", "cdna2"), (r"\bmi100\b", "cdna1"), (r"\bgb10\b", "gb10"),
    (r"\brtx 50\d0|\brtx pro \d+ blackwell|\bb200\b", "blackwell"),
    (r"\brtx 40\d0|\bl4\b|\bl40s?\b", "ada"), (r"\bg?h[12]00\b", "hopper"),
    (r"\brtx 30\d0|\brtx a\d{4}\b|\ba(2|10g?|30|40|100)\b", "ampere"),
    (r"\brtx 20\d0|\bt4\b|\bt(400|1000)\b", "turing"), (r"\bv100s?\b", "volta"),
    (r"\bp(40|100)\b", "pascal"), (r"\bm40\b", "maxwell"),
    (r"\barc a\d{3}\b", "alchemist"), (r"\barc b\d{3}\b", "battlemage"),
)
# fmt: on


# Backend groups where a card without measurements borrows its generation's factors (decode:
# scripts/calibrate.py; prompt: scripts/calibrate_prefill.py). Not CUDA: there it moved the
# held-out errors both ways (an RTX 5060 Ti 8GB decode row -15% -> -2%, but an RTX 4090 row
# -4% -> -19%, an A100 row +9% -> +23% and an RTX 6000 Ada row +19% -> +31%).
GENERATION_GROUPS = ("rocm", "vulkan")


def gpu_generation(name: str) -> str | None:
    """The generation of a device table's card ("NVIDIA GeForce RTX 4090" -> "ada"), or None."""
    text = name.lower()
    return next((gen for pattern, gen in _GENERATIONS if re.search(pattern, text)), None)
