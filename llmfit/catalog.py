"""Load and validate the model catalog (models.json, plus user overlays) into ModelSpec values."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from llmfit.architecture import ARCH_KINDS, MLP_KINDS, Architecture
from llmfit.errors import CatalogError

CATEGORIES = ("General", "Coding", "Reasoning", "Chat", "Multimodal", "Embedding")
CAPABILITIES = ("tool_use", "vision", "reasoning", "embedding", "code", "audio")
QUANT_FORMATS = ("GGUF", "MLX", "MXFP4", "FP8", "AWQ", "GPTQ", "BF16")
MAX_CONTEXT = 10_485_760  # Llama 4 Scout publishes 10M; nothing longer exists
ROW_KEYS = ("name", "provider", "family", "params_b", "active_params_b", "context_length",
            "release_date", "license", "category", "use_case", "capabilities", "arch", "quants",
            "gguf_sources", "ollama_name", "extra_params_b")
OPTIONAL_KEYS = ("provenance", "source_notes")  # where the facts came from; notes for every row
CATALOG_ENV = "LLMFIT_CATALOG"


@dataclass(frozen=True)
class GgufSource:
    """A repository that publishes GGUF files of a model."""

    repo: str
    provider: str


@dataclass(frozen=True)
class ExactWeights:
    """Weight bytes read from a real file's tensor table (a GGUF), not estimated."""

    quant: str  # the file's quantization, e.g. "Q4_K_M"
    total_bytes: int  # every tensor's bytes
    routed_expert_bytes: int  # MoE routed-expert tensors (what moe_offload keeps in RAM)
    active_expert_bytes: float  # routed-expert bytes one decoded token reads
    read_per_token_bytes: float  # all bytes one decoded token reads
    path: str


@dataclass(frozen=True)
class ModelSpec:
    """One catalog row, validated."""

    name: str
    provider: str
    family: str
    params_b: float
    active_params_b: float | None
    context_length: int
    release_date: str
    license: str | None
    category: str
    use_case: str
    capabilities: tuple[str, ...]
    arch: Architecture
    quants: tuple[str, ...]
    gguf_sources: tuple[GgufSource, ...]
    ollama_name: str | None
    extra_params_b: float
    provenance: str | None = None
    source_notes: tuple[str, ...] = ()
    exact_weights: ExactWeights | None = None

    @property
    def is_moe(self) -> bool:
        return self.arch.is_moe

    @property
    def owner(self) -> str:
        return self.name.split("/", 1)[0]


def parameter_count_label(model: ModelSpec) -> str:
    """Human form of the size: "8.0B", "30.5B (3.3B active)", "137M"."""

    def short(billions: float) -> str:
        return f"{billions * 1000:.0f}M" if billions < 1 else f"{billions:.1f}B"

    label = short(model.params_b)
    if model.active_params_b is not None:
        label += f" ({short(model.active_params_b)} active)"
    return label


def _fail(name: object, reason: str) -> CatalogError:
    shown = name if isinstance(name, str) and len(name) <= 300 else _short(name)
    return CatalogError(f"catalog row {shown!r}: {reason}")


MAX_PARAMS_B = 100_000.0  # 100T parameters: anything larger is a typo
MAX_ARCH_INT = 100_000_000  # widths, layers, vocabularies: far above any model
MAX_TEXT = 2000


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _positive_number(row: Mapping[str, Any], key: str) -> float:
    value = row[key]
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not 0 < value <= MAX_PARAMS_B):
        raise _fail(row.get("name"), f"{key} must be a positive number up to "
                                     f"{MAX_PARAMS_B:,.0f}, got {_short(value)}")
    return float(value)


def _positive_int(name: object, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ARCH_INT:
        raise _fail(name, f"{key} must be a positive integer, got {_short(value)}")
    return value


_OPTIONAL_INTS = ("intermediate_size", "sliding_window", "kv_lora_rank", "q_lora_rank",
                  "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "experts",
                  "experts_per_token", "moe_intermediate_size")
_COUNTS = ("attention_layers", "sliding_window_layers", "shared_expert_intermediate_size",
           "moe_layers")


def _arch_types(name: object, arch: Architecture) -> None:
    """Every arch field of the right type and size (so no analysis can trip over one)."""
    for key in _OPTIONAL_INTS:
        value = getattr(arch, key)
        if value is not None:
            _positive_int(name, f"arch.{key}", value)
    for key in _COUNTS:
        value = getattr(arch, key)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ARCH_INT:
            raise _fail(name, f"arch.{key} must be a whole number >= 0, got {_short(value)}")
    if not isinstance(arch.tied_embeddings, bool):
        raise _fail(name, "arch.tied_embeddings must be true or false")


def _date(name: object, value: Any) -> str:
    try:
        day = dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        raise _fail(name, f"release_date must be YYYY-MM-DD, got {value!r}") from None
    # No wall-clock check: a board without an RTC must still load the catalog.
    if not 2018 <= day.year <= 2100:
        raise _fail(name, f"release_date {value} is outside 2018..2100")
    return value


def _choices(name: object, key: str, values: Any, allowed: Iterable[str]) -> tuple[str, ...]:
    allowed = tuple(allowed)
    if not isinstance(values, list) or any(v not in allowed for v in values):
        raise _fail(name, f"{key} must be a list drawn from {', '.join(allowed)}; got {values!r}")
    return tuple(values)


def _arch(name: object, raw: Any) -> Architecture:
    if not isinstance(raw, dict):
        raise _fail(name, "arch must be an object")
    try:
        arch = Architecture.from_mapping(raw)
    except TypeError as exc:
        raise _fail(name, f"arch: {exc}") from None
    for key in ("layers", "hidden_size", "attention_heads", "kv_heads", "head_dim", "vocab_size"):
        _positive_int(name, f"arch.{key}", getattr(arch, key))
    _arch_types(name, arch)
    if arch.kind not in ARCH_KINDS or arch.mlp not in MLP_KINDS:
        raise _fail(name, f"arch.kind must be one of {ARCH_KINDS}, arch.mlp one of {MLP_KINDS}")
    if not 0 <= arch.attention_layers <= arch.layers:
        raise _fail(name, "arch.attention_layers must be between 0 and layers")
    if arch.attention_heads % arch.kv_heads:
        raise _fail(name, "arch.kv_heads must divide arch.attention_heads")
    if arch.sliding_window_layers > arch.attention_layers:
        raise _fail(name, "arch.sliding_window_layers exceeds attention_layers")
    if arch.is_moe and not (arch.experts_per_token and arch.moe_intermediate_size
                            and 0 < arch.moe_layers <= arch.layers):
        raise _fail(name, "MoE arch needs experts_per_token, moe_intermediate_size, moe_layers")
    return arch


def _optional_str(name: object, key: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()
                              or len(value) > MAX_TEXT):
        raise _fail(name, f"{key} must be a non-empty string (at most {MAX_TEXT} characters) or null")
    return value


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row[key]
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _fail(row.get("name"), f"{key} must be a non-empty string (at most {MAX_TEXT} characters)")
    return value


def _sources(name: object, raw: Any) -> tuple[GgufSource, ...]:
    try:
        return tuple(GgufSource(str(s["repo"]), str(s["provider"])) for s in raw)
    except (TypeError, KeyError):
        raise _fail(name, "gguf_sources must be a list of {repo, provider}") from None


def parse_row(row: Any) -> ModelSpec:
    """Validate one catalog row (a JSON object) into a ModelSpec, or raise CatalogError."""
    if not isinstance(row, dict):
        raise CatalogError(f"catalog row must be an object, got {type(row).__name__}")
    name = row.get("name")
    missing = [k for k in ROW_KEYS if k not in row]
    if missing:
        raise _fail(name, f"missing keys: {', '.join(missing)}")
    if not isinstance(name, str) or "/" not in name or len(name) > 300:
        raise _fail(_short(name), "name must be a Hugging Face repo id (owner/model)")
    params_b = _positive_number(row, "params_b")
    active = None if row["active_params_b"] is None else _positive_number(row, "active_params_b")
    if active is not None and active > params_b:
        raise _fail(name, "active_params_b exceeds params_b")
    context = _positive_int(name, "context_length", row["context_length"])
    if context > MAX_CONTEXT:
        raise _fail(name, f"context_length {context} is not a native window")
    if row["category"] not in CATEGORIES:
        raise _fail(name, f"category must be one of {', '.join(CATEGORIES)}")
    extra = row["extra_params_b"]
    if isinstance(extra, bool) or not isinstance(extra, (int, float)) or not 0 <= extra <= MAX_PARAMS_B:
        raise _fail(name, "extra_params_b must be a number >= 0")
    arch = _arch(name, row["arch"])
    if arch.is_moe and active is None:
        raise _fail(name, "MoE rows need active_params_b")
    return ModelSpec(
        name=name, provider=_text(row, "provider"), family=_text(row, "family"),
        params_b=params_b, active_params_b=active, context_length=context,
        release_date=_date(name, row["release_date"]),
        license=_optional_str(name, "license", row["license"]),
        category=row["category"], use_case=_text(row, "use_case"),
        capabilities=_choices(name, "capabilities", row["capabilities"], CAPABILITIES),
        arch=arch, quants=_choices(name, "quants", row["quants"], QUANT_FORMATS),
        gguf_sources=_sources(name, row["gguf_sources"]),
        ollama_name=_optional_str(name, "ollama_name", row["ollama_name"]),
        extra_params_b=float(extra),
        provenance=_optional_str(name, "provenance", row.get("provenance")),
        source_notes=_notes(name, row.get("source_notes", [])),
    )


def _notes(name: object, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(n, str) and n.strip() for n in raw):
        raise _fail(name, "source_notes must be a list of strings")
    return tuple(raw)


def parse_catalog(data: Any, origin: str = "catalog") -> list[ModelSpec]:
    """Validate a whole catalog document ({"models": [...]} or a bare list)."""
    rows = data.get("models") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise CatalogError(f"{origin}: expected a list of models or {{\"models\": [...]}}")
    models, seen = [], set()
    for row in rows:
        model = parse_row(row)
        key = model.name.lower()
        if key in seen:
            raise CatalogError(f"{origin}: duplicate model name {model.name!r}")
        seen.add(key)
        models.append(model)
    return models


MAX_CATALOG_BYTES = 64 * 2**20  # the shipped catalog is ~0.3 MB; a user's has no reason for more
MAX_ROWS = 100_000


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_catalog_file(path: Path) -> list[ModelSpec]:
    """Read and validate a catalog file; unreadable or malformed files raise CatalogError.

    Only regular files are read (a FIFO or /dev/zero would hang or never end), at most
    MAX_CATALOG_BYTES, as strict UTF-8 JSON (no NaN/Infinity, no absurd nesting or integers).
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; then only regular files are read.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise CatalogError(f"catalog {path} is not a regular file")
            raw = fh.read(MAX_CATALOG_BYTES + 1)
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CATALOG_BYTES:
        raise CatalogError(f"catalog {path} is larger than {MAX_CATALOG_BYTES // 2**20} MiB")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise CatalogError(f"catalog {path} is not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise CatalogError(f"catalog {path} is not valid JSON: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise CatalogError(f"catalog {path} is not valid JSON: {str(exc)[:120]}") from None
    rows = data.get("models") if isinstance(data, dict) else data
    if isinstance(rows, list) and len(rows) > MAX_ROWS:
        raise CatalogError(f"catalog {path} has more than {MAX_ROWS:,} rows")
    return parse_catalog(data, str(path))


def builtin_catalog_path() -> Path:
    """models.json as installed with the package, or at the root of a source checkout."""
    packaged = Path(__file__).with_name("data") / "models.json"
    return packaged if packaged.exists() else Path(__file__).resolve().parents[1] / "models.json"


def merge_overlay(base: list[ModelSpec], overlay: list[ModelSpec]) -> list[ModelSpec]:
    """Rows of `overlay` replace rows of `base` with the same name (case-insensitive) or are added."""
    replaced = {m.name.lower(): m for m in overlay}
    merged = [replaced.pop(m.name.lower(), m) for m in base]
    return merged + [m for m in overlay if m.name.lower() in replaced]


def load_catalog(overlay_path: str | None = None) -> list[ModelSpec]:
    """The built-in catalog, then the user catalog (`llmfit add`/`update`), then the overlay
    (argument, else $LLMFIT_CATALOG); later rows replace earlier ones of the same name."""
    from llmfit.paths import user_catalog_path

    models = read_catalog_file(builtin_catalog_path())
    user = user_catalog_path()
    if user.is_file():
        models = merge_overlay(models, read_catalog_file(user))
    overlay = overlay_path or os.environ.get(CATALOG_ENV)
    if overlay:
        models = merge_overlay(models, read_catalog_file(Path(overlay).expanduser()))
    return models
