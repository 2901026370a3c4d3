"""A real browser on the dashboard: Debian's chromium + chromedriver through Selenium, and an
`llmfit serve` process on a free loopback port with fixed hardware and a fake local Ollama.

Shared by tests/test_web.py and scripts/screenshot_dashboard.py. Nothing is downloaded: the
driver and the browser are the system's (Selenium Manager is never asked).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from runtime_server import FakeRuntime, recorded
from test_serve_process import OVERRIDES, Serve

TESTS = Path(__file__).resolve().parent
ARTIFACTS = Path(os.environ.get("LLMFIT_TEST_ARTIFACTS", TESTS / "artifacts"))
LAPTOP = (1280, 900)
PHONE = (390, 844)
WAIT_S = 30.0
RUNTIME_HOST_VARS = ("OLLAMA_HOST", "LMSTUDIO_HOST", "LLAMA_SERVER_HOST", "VLLM_HOST",
                     "MODEL_RUNNER_HOST")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install '.[test]')"
    for program in ("chromium", "chromedriver"):
        if shutil.which(program) is None:
            return f"{program} is not on PATH (Debian: apt-get install chromium chromium-driver)"
    if sys.platform == "win32":
        return "the llmfit serve helper needs SIGINT and unix sockets"
    return None


def make_driver(size: tuple[int, int] = LAPTOP):
    """Headless system chromium with the browser console log readable."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update",
                     "--hide-scrollbars", f"--window-size={size[0]},{size[1]}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    set_viewport(driver, size)
    return driver


def set_viewport(driver, size: tuple[int, int], mobile: bool = False) -> None:
    """The page's viewport exactly `size` CSS pixels (a window size would include browser chrome)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile})


@contextmanager
def llmfit_node(home: Path, *extra: str, hardware: tuple[str, ...] = OVERRIDES) -> Iterator[str]:
    """`llmfit serve --ram 16G --cpu-cores 4` (or other `hardware` options) on a free loopback
    port, with a fake Ollama (pulled models, one loaded) and every other runtime refused;
    yields the base URL."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connecting is refused at once
    ollama = FakeRuntime({"/api/version": recorded("ollama_version.json"),
                          "/api/tags": recorded("ollama_tags.json"),
                          "/api/ps": recorded("ollama_ps.json")}).__enter__()
    env = {name: f"127.0.0.1:{closed.getsockname()[1]}" for name in RUNTIME_HOST_VARS}
    env.update(OLLAMA_HOST=ollama.host, HOME=str(home / "home"), LLMFIT_HOME=str(home / "llmfit"),
               HF_HOME=str(home / "hf"), LLAMA_CACHE=str(home / "llama-cache"),
               OLLAMA_MODELS=str(home / "ollama-models"), LLMFIT_NO_MEASURE="1")
    try:
        with mock.patch.dict(os.environ, env):
            server = Serve("--host", "127.0.0.1", "--port", "0", *hardware, *extra)
        try:
            yield server.wait_for(r"listening on (http://127\.0\.0\.1:\d+) ").group(1)
        finally:
            server.kill()
    finally:
        ollama.__exit__(None, None, None)
        closed.close()


def evil_catalog(path: Path) -> Path:
    """A catalog overlay whose strings are HTML: the page must show them as text."""
    rows = json.loads((TESTS.parent / "models.json").read_text())["models"]
    row = next(r for r in rows if r["name"] == "Qwen/Qwen3-8B")
    evil = dict(row, name='x-evil/<img src=x onerror="window.pwned=1">',
                provider="<script>window.pwned=2</script>", use_case='<b>bold</b> & "quotes"',
                ollama_name=None, gguf_sources=[])
    path.write_text(json.dumps({"schema_version": 1, "models": [evil]}))
    return path


def save_screenshot(driver, name: str, folder: Path = ARTIFACTS, full_page: bool = True) -> Path:
    """A PNG of the page (its full height, or the viewport) under `folder`; prints where."""
    import base64

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    if full_page:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                      {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
    else:
        path.write_bytes(driver.get_screenshot_as_png())
    print(f"screenshot: {path}")
    return path


def console_errors(driver) -> list[dict]:
    """Severe browser console entries since the last call (the log is drained on reading)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_until(driver, condition, message: str, timeout_s: float = WAIT_S):
    """Poll `condition(driver)` until it is truthy; fail with `message` and the page's state."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(condition)
    except TimeoutException:
        states = driver.execute_script(
            "return [...document.querySelectorAll('[data-state]')].map("
            "s => `${s.id}=${s.dataset.state} ${s.dataset.query || ''} `"
            "+ (s.querySelector('.error')?.textContent || ''))")
        raise AssertionError(f"{message}; page: {states}") from None


def readme_view(driver, base: str, path: Path) -> Path:
    """The README's picture: coding models that fit well, the second one's details beside the
    table, at laptop size (only the viewport: a modest PNG)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    set_viewport(driver, LAPTOP)
    driver.get(base + "/#min_fit=good&use_case=coding&limit=25")
    wait_until(driver, lambda d: d.find_element(By.ID, "models").get_attribute("data-state")
               == "ready" and "use_case=coding" in d.find_element(By.ID, "models")
               .get_attribute("data-query"), "the README view's models")
    rows = driver.find_elements(By.CSS_SELECTOR, "#models-table tbody tr[data-name]")
    rows[min(1, len(rows) - 1)].click()
    driver.execute_script("document.getElementById('models').scrollIntoView({block: 'start'});"
                          "scrollBy(0, -8)")
    ActionChains(driver).move_to_element(driver.find_element(By.ID, "details-heading")).perform()
    return save_screenshot(driver, path.stem, path.parent, full_page=False)
