"""The dashboard at `/`: how it is served (in-process), then the page in a real browser (Debian's
chromium through Selenium) against a real `llmfit serve` process, compared with the API's JSON.

Screenshots go to tests/artifacts/ (git-ignored; $LLMFIT_TEST_ARTIFACTS elsewhere).
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from conftest import cpu_box
from web_browser import (ARTIFACTS, LAPTOP, PHONE, browser_missing, console_errors, evil_catalog,
                         llmfit_node, make_driver, readme_view, save_screenshot, set_viewport,
                         wait_until)

from llmfit.server import create_app
from llmfit.web import ASSET_TYPES, Dashboard, wants_html

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

WEB = Path(__file__).resolve().parent.parent / "llmfit" / "web"
CHROME_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
                 "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")


# --- serving (in-process) ---------------------------------------------------------------------


@pytest.fixture
def client(service_for, monkeypatch) -> TestClient:
    monkeypatch.setenv("NODE_NAME", "node-7")
    return TestClient(create_app(service_for(cpu_box())), raise_server_exceptions=False)


@pytest.mark.parametrize(("accept", "html"), [
    (CHROME_ACCEPT, True), ("text/html", True), ("application/json, text/html", True),
    ("", False), ("*/*", False), ("application/json", False),
    ("application/json, text/html;q=0.5", False), ("text/html;q=0", False),
    ("text/html;q=abc", False), ("TEXT/HTML", True),
])
def test_a_page_only_for_clients_that_ask_for_html(accept, html):
    assert wants_html(accept) is html


def test_browsers_get_the_page_and_scripts_the_json_index(client):
    page = client.get("/", headers={"Accept": CHROME_ACCEPT})
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>llmfit</title>" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["vary"] == "Accept" and page.headers["cache-control"] == "no-cache"
    for accept in ("*/*", "application/json"):
        index = client.get("/", headers={"Accept": accept})
        assert index.headers["content-type"] == "application/json", accept
        assert index.json()["name"] == "llmfit" and index.headers["vary"] == "Accept"


def test_assets_are_served_with_their_types_and_cached(client):
    page = client.get("/", headers={"Accept": "text/html"}).text
    for name, media_type in ASSET_TYPES.items():
        linked = re.search(rf'"ui/{re.escape(name)}\?v=([0-9a-f]{{12}})"', page)
        assert linked, name  # linked by content version, so a day's cache never goes stale
        answer = client.get(f"/ui/{name}?v={linked.group(1)}")
        assert answer.status_code == 200 and answer.headers["content-type"] == media_type
        assert answer.content == (WEB / name).read_bytes()
        assert answer.headers["cache-control"] == "public, max-age=86400"
        assert answer.headers["x-content-type-options"] == "nosniff"
        again = client.get(f"/ui/{name}", headers={"If-None-Match": answer.headers["etag"]})
        assert again.status_code == 304 and again.content == b""


def test_unknown_assets_are_the_apis_json_404(client):
    for path in ("/ui/index.html", "/ui/nope.js", "/ui/../server.py", "/ui/"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/json"
        assert answer.json() == {"error": f"no such endpoint: {answer.request.url.path}"}


def test_the_page_is_small_and_needs_nothing_inline_or_remote():
    dashboard = Dashboard()
    assert dashboard.total_bytes < 100_000  # "a few hundred KB" at most; it is far less
    html = (WEB / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script (CSP script-src 'self')
    assert not re.search(r"\s(on\w+|style)=", html)  # no inline handlers or styles
    for text in (html, (WEB / "app.js").read_text(), (WEB / "app.css").read_text()):
        assert not re.search(r"https?://", text.replace("http://www.w3.org/2000/svg", ""))
    script = (WEB / "app.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script
    assert "eval(" not in script and "document.write" not in script


def test_llmfit_top_does_not_import_the_dashboard():
    code = ("import sys; from llmfit.cli import main; sys.argv = ['llmfit', 'top', '--json'];\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "assert 'llmfit.web' not in sys.modules and 'starlette' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# --- the page in a real browser ---------------------------------------------------------------

MISSING = browser_missing()
browser = pytest.mark.skipif(MISSING is not None, reason=f"browser tests: {MISSING}")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    if MISSING:
        pytest.skip(MISSING)
    home = tmp_path_factory.mktemp("web-node")
    with llmfit_node(home, "--catalog", str(evil_catalog(home / "evil.json"))) as base:
        with httpx.Client(base_url=base, timeout=60) as api:
            yield base, api


@pytest.fixture(scope="module")
def chrome():
    if MISSING:
        pytest.skip(MISSING)
    driver = make_driver(LAPTOP)
    yield driver
    driver.quit()


@pytest.fixture
def page(chrome, node):
    """The dashboard freshly loaded at laptop size; after the test, no console errors."""
    base, _ = node
    set_viewport(chrome, LAPTOP)
    chrome.get("about:blank")
    console_errors(chrome)  # drain what an earlier test left
    chrome.get(base + "/")
    wait_models(chrome, {"sort": "score", "limit": "50"})
    yield chrome
    errors = console_errors(chrome)
    assert errors == [], errors


def wait_models(driver, query: dict[str, str], state: str = "ready") -> None:
    """Until the table shows the answer (or the error) for exactly `query`."""
    def shown(d) -> bool:
        now, asked = d.execute_script("const s = document.getElementById('models');"
                                      "return [s.dataset.state, s.dataset.query || '']")
        return now == state and dict(parse_qsl(asked)) == query

    wait_until(driver, shown, f"models for {query} ({state})")


def table_names(driver) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#models-table tbody tr[data-name]')]"
        ".map(tr => tr.dataset.name)")


def api_names(api: httpx.Client, query: dict[str, str]) -> list[str]:
    answer = api.get("/api/v1/models", params=query)
    assert answer.status_code == 200, answer.text
    return [row["name"] for row in answer.json()["models"]]


def fill(driver, form: str, values: dict[str, str]) -> None:
    """Type into a form's fields (selects by value), as a user would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        field = driver.find_element(By.CSS_SELECTOR, f"#{form} [name={name}]")
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)


def submit(driver, form: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f"#{form} button[type=submit]").click()


def text(driver, selector: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector).get_attribute("textContent")


@browser
def test_the_page_shows_the_node_its_models_and_installed_models(page, node):
    _, api = node
    assert table_names(page) == api_names(api, {"sort": "score", "limit": "50"})
    system = api.get("/api/v1/system").json()
    wait_until(page, lambda d: d.find_element("id", "hardware").get_attribute("data-state")
               == "ready", "hardware card")
    assert text(page, "#node-name") == system["node"]["name"]
    assert text(page, "[data-key=ram]") == "16 GiB (16 available)"
    assert text(page, "[data-key=cpu]").endswith(", 4 cores")
    assert text(page, "#models-count") == f"50 shown of {api.get('/api/v1/models').json()['total_models']} matching"
    installed = api.get("/api/v1/installed").json()["models"]
    assert installed, "the fake Ollama's models"
    wait_until(page, lambda d: d.find_element("id", "installed").get_attribute("data-state")
               == "ready", "installed models")
    cells = page.execute_script("return [...document.querySelectorAll('#installed-table tbody tr')]"
                                ".map(tr => [...tr.cells].map(td => td.textContent))")
    assert [c[:3] for c in cells] == [[m["runtime"], m["name"], m["catalog_name"] or "—"]
                                      for m in installed]
    assert [c[5] == "in memory" for c in cells] == [m["loaded"] for m in installed]
    save_screenshot(page, "dashboard-default")


@browser
def test_filters_and_a_what_if_show_what_the_api_answers(page, node):
    _, api = node
    fill(page, "filter-form", {"min_fit": "good", "use_case": "coding", "search": "qwen",
                               "ram_gb": "32", "limit": "20"})
    submit(page, "filter-form")
    query = {"search": "qwen", "min_fit": "good", "use_case": "coding", "sort": "score",
             "limit": "20", "ram_gb": "32"}
    wait_models(page, query)
    names = table_names(page)
    assert names == api_names(api, query) and names  # same rows, same order
    assert names != api_names(api, {k: v for k, v in query.items() if k != "ram_gb"})  # what-if counts
    assert page.find_element("id", "whatif-badge").is_displayed()
    wait_until(page, lambda d: text(d, "[data-key=ram]").startswith("32 GiB"), "what-if RAM card")
    assert page.execute_script("return location.hash.slice(1)") == text_query(page)

    fill(page, "filter-form", {"sort": "tps", "provider": "Qwen", "capability": "tool_use"})
    page.find_element("css selector", "#filter-form [name=include_too_tight]").click()
    submit(page, "filter-form")
    query.update(sort="tps", provider="Qwen", capability="tool_use", include_too_tight="false")
    wait_models(page, query)
    assert table_names(page) == api_names(api, query)
    save_screenshot(page, "dashboard-filtered")

    page.refresh()  # the query lives in the URL: a reload (or a shared link) shows the same
    wait_models(page, query)
    assert table_names(page) == api_names(api, query)


def text_query(driver) -> str:
    return driver.execute_script("return document.getElementById('models').dataset.query")


@browser
def test_rows_are_selected_with_the_keyboard_and_show_their_details(page, node):
    from selenium.webdriver.common.keys import Keys

    _, api = node
    rows = api.get("/api/v1/models", params={"sort": "score", "limit": "50"}).json()["models"]
    first = page.find_element("css selector", "#models-table tbody tr[data-name]")
    assert first.get_attribute("tabindex") == "0"  # one tab stop for the table
    first.send_keys(Keys.ARROW_DOWN)
    page.switch_to.active_element.send_keys(Keys.ENTER)
    row = rows[1]
    wait_until(page, lambda d: text(d, "#detail-name") == row["name"], "details of row 2")
    selected = page.find_elements("css selector", "#models-table tr[aria-selected=true]")
    assert [tr.get_attribute("data-name") for tr in selected] == [row["name"]]
    assert page.switch_to.active_element == selected[0]
    notes = [li.get_attribute("textContent") for li in page.find_elements("css selector", "#detail-notes li")]
    assert notes == row["notes"]
    for key, value in row["score_components"].items():
        assert float(text(page, f"#detail-scores [data-key={key}]")) == value
    assert text(page, "#detail-verify code") == (row["verify_command"] or "")
    speed = text(page, "[data-key=estimated_tps]")
    assert speed.startswith(f"{row['estimated_tps']:g} tok/s") and row["estimate_confidence"] in speed
    if row["estimated_tps_low"] is not None:
        assert f"({row['estimated_tps_low']:g}–{row['estimated_tps_high']:g})" in speed
    if row["prefill_tps"] is not None:
        assert text(page, "[data-key=prefill_tps]") == f"{row['prefill_tps']:,g} tok/s"
        assert text(page, "[data-key=ttft_ms]")
    save_screenshot(page, "dashboard-details")


@browser
def test_a_plan_shows_what_the_api_answers(page, node):
    from selenium.webdriver.common.keys import Keys

    _, api = node
    page.find_element("css selector", "#models-table tbody tr[data-name]").send_keys(Keys.ENTER)
    fill(page, "plan-form", {"context": "16384", "target_tps": "10", "kv_quant": "q8_0"})
    page.find_element("id", "plan-selected").click()  # plans the selected row
    model = table_names(page)[0]
    body = {"model": model, "context": 16384, "quant": None, "kv_quant": "q8_0",
            "target_tps": 10, "parallel": None, "ram_gb": None, "vram_gb": None, "cpu_cores": None}
    plan = api.post("/api/v1/plan", json=body).json()
    wait_until(page, lambda d: d.find_element("id", "plan").get_attribute("data-state") == "ready"
               and d.find_element("id", "plan").get_attribute("data-model") == plan["model_name"],
               "the plan")
    for which in ("minimum", "recommended"):
        shown = {cell.get_attribute("data-key"): float(cell.get_attribute("data-value")) for cell
                 in page.find_elements("css selector", f"#plan-{which} td[data-key]")}
        assert shown == plan[which], which
    current = text(page, "#plan-current")
    assert current.startswith(f"On this node: {plan['current']['fit_label']}, "
                              f"{plan['current']['run_mode_label']}")
    paths = page.find_elements("css selector", "#plan-paths tbody tr")
    assert len(paths) == len(plan["run_paths"])
    upgrades = [li.get_attribute("textContent") for li in page.find_elements("css selector", "#plan-upgrades li")]
    assert upgrades == [d["description"] for d in plan["upgrade_deltas"]] or not plan["upgrade_deltas"]
    kv = [tr.find_element("tag name", "code").get_attribute("textContent")
          for tr in page.find_elements("css selector", "#plan-kv tbody tr")]
    assert kv == [alt["note"] for alt in plan["kv_alternatives"]]
    commands = [c.get_attribute("textContent") for c in page.find_elements("css selector", "#plan-commands dd code")]
    assert commands == [c for c in (plan["commands"] or {}).values() if c]
    assert "16,384 tokens, KV q8_0" in text(page, "#plan-title")
    save_screenshot(page, "dashboard-plan")


@browser
def test_server_errors_are_shown_as_the_servers_message(chrome, node):
    base, api = node
    set_viewport(chrome, LAPTOP)
    chrome.get(base + "/")
    wait_models(chrome, {"sort": "score", "limit": "50"})
    console_errors(chrome)

    fill(chrome, "plan-form", {"model": "<b>no-such</b>-model"})
    submit(chrome, "plan-form")
    expected = api.post("/api/v1/plan", json={"model": "<b>no-such</b>-model"})
    assert expected.status_code == 404
    wait_until(chrome, lambda d: d.find_element("id", "plan").get_attribute("data-state")
               == "error", "plan error")
    box = chrome.find_element("css selector", "#plan .error")
    assert box.is_displayed() and box.text == expected.json()["error"]
    assert box.find_elements("css selector", "b") == []  # the message is text, not markup

    fill(chrome, "filter-form", {"ram_gb": "0"})
    submit(chrome, "filter-form")
    query = {"sort": "score", "limit": "50", "ram_gb": "0"}
    wait_models(chrome, query, state="error")
    bad = api.get("/api/v1/models", params=query)
    assert bad.status_code == 400
    assert text(chrome, "#models .error") == bad.json()["error"]
    assert "ram_gb" in bad.json()["error"] and table_names(chrome) == []
    wait_until(chrome, lambda d: text(d, "#hardware .error") == bad.json()["error"], "card error")
    save_screenshot(chrome, "dashboard-errors")

    # The only console entries: the browser's own lines for the three 4xx answers asked for.
    errors = console_errors(chrome)
    assert errors and all(e["source"] == "network" and re.search(r" 40[04] ", e["message"])
                          for e in errors), errors


@browser
def test_strings_from_the_api_are_text_never_markup(page, node):
    _, api = node
    fill(page, "filter-form", {"search": "x-evil"})
    submit(page, "filter-form")
    wait_models(page, {"search": "x-evil", "sort": "score", "limit": "50"})
    names = table_names(page)
    assert names == ['x-evil/<img src=x onerror="window.pwned=1">']
    page.find_element("css selector", "#models-table tbody tr[data-name]").click()
    wait_until(page, lambda d: text(d, "#detail-name") == names[0], "details of the evil row")
    assert "<script>window.pwned=2</script>" in text(page, "#detail-summary")
    assert page.execute_script("return window.pwned") is None
    assert page.find_elements("css selector", "main img, main script, main b") == []


@browser
def test_the_page_fits_a_phone(page, node):
    set_viewport(page, PHONE, mobile=True)
    page.refresh()
    wait_models(page, {"sort": "score", "limit": "50"})
    widths = page.execute_script(
        "return [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]")
    assert widths[0] <= widths[2] and widths[1] <= widths[2], widths  # no sideways scrolling
    hidden = page.execute_script(
        "return getComputedStyle(document.querySelector('#models-table th.opt')).display")
    assert hidden == "none"  # fewer columns on a phone
    save_screenshot(page, "dashboard-phone")


@browser
def test_dark_mode_follows_the_system(page):
    page.execute_cdp_cmd("Emulation.setEmulatedMedia",
                         {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        dark = page.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert dark == "rgb(15, 20, 25)"
        save_screenshot(page, "dashboard-dark", full_page=False)
    finally:
        page.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    assert page.execute_script("return getComputedStyle(document.body).backgroundColor") \
        == "rgb(245, 246, 248)"


@browser
def test_the_readme_view_renders(page, node):
    """scripts/screenshot_dashboard.py takes docs/dashboard.png along this path (on a GPU what-if)."""
    base, _ = node
    path = readme_view(page, base, ARTIFACTS / "dashboard-readme.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert page.find_element("id", "details").get_attribute("data-model")
