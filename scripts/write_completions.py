"""Regenerate the checked-in shell completions after changing the CLI.

    python scripts/write_completions.py [DIRECTORY]   (default: completions/)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmfit.cli import app  # noqa: E402
from llmfit.completions import write_all  # noqa: E402

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "completions"
    for written in write_all(target, app):
        print("wrote", written)
