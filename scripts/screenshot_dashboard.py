"""Write docs/dashboard.png, the README's picture of the dashboard `llmfit serve` shows at `/`.

    python scripts/screenshot_dashboard.py [--out docs/dashboard.png]

The browser tests' own code path (tests/web_browser.py): a real `llmfit serve` process with fixed
hardware (an RTX 4090 what-if, 64 GiB RAM, 16 cores, so the picture does not depend on the
machine that takes it) and a fake local Ollama, and headless Debian chromium through Selenium.
Needs `chromium` and `chromium-driver` (apt) and `selenium` (the `test` extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

HARDWARE = ("--gpu", "RTX 4090", "--ram", "64G", "--cpu-cores", "16")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    args = parser.parse_args()

    from web_browser import browser_missing, llmfit_node, make_driver, readme_view

    missing = browser_missing()
    if missing:
        print(f"cannot take the screenshot: {missing}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="llmfit-screenshot-") as home, \
            llmfit_node(Path(home), hardware=HARDWARE) as base:
        driver = make_driver()
        try:
            path = readme_view(driver, base, args.out.resolve())
        finally:
            driver.quit()
    print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
