"""Check catalog rows in a JSON file (a list of rows or {"models": [...]}) for consistency.

Usage: python scripts/check_catalog.py models.json [FILE...]
Prints one line per row with stated vs recomputed parameters; exits 1 when a row is off.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmfit.architecture import Architecture, decoder_param_count  # noqa: E402


def check(row: dict) -> list[str]:
    problems = []
    arch = Architecture.from_mapping(row["arch"])
    if arch.kind == "hybrid":
        return problems
    extra = row.get("extra_params_b", 0) or 0
    total = decoder_param_count(arch) / 1e9 + extra
    if abs(total - row["params_b"]) / row["params_b"] > 0.10:
        problems.append(f"params_b {row['params_b']} vs recomputed {total:.2f}")
    if arch.is_moe:
        active = decoder_param_count(arch, active_only=True) / 1e9 + extra
        stated = row.get("active_params_b")
        if stated is None or abs(active - stated) / stated > 0.15:
            problems.append(f"active_params_b {stated} vs recomputed {active:.2f}")
    if arch.attention_heads % arch.kv_heads:
        problems.append("kv_heads does not divide attention_heads")
    return problems


def main(paths: list[str]) -> int:
    bad = 0
    for path in paths:
        data = json.loads(Path(path).read_text())
        rows = data["models"] if isinstance(data, dict) else data
        for row in rows:
            try:
                problems = check(row)
            except Exception as exc:  # report and go on
                problems = [f"{type(exc).__name__}: {exc}"]
            status = "ok " if not problems else "BAD"
            bad += bool(problems)
            print(f"{status} {row.get('name')}: {'; '.join(problems)}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
