"""The web console (/ui) in a real browser: headless Chromium (Selenium) on real `ecomtune serve --ui` and `ecomtune
ui` processes over tiny trained runs — the API key flow, the runs list, a run page (metrics, plots, card, slices),
a comparison (sortable table, Pareto plot: hover, axis, keyboard), "try it" checked against the API's own answer,
the drift monitor, the guide's page, a phone width, and no console errors on any page. Plus, without a browser:
run files only from the allow-list (no path traversal) and nothing fetched from outside the package.

Screenshots go to a temp folder; `ECOMTUNE_CONSOLE_SHOTS=docs/images pytest tests/serve/test_console.py` also
writes the small PNGs the README and docs/console.md show.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ecomtune.rundir.manifest import write_manifest
from tests.conftest import CHROMEDRIVER as DRIVER
from tests.conftest import CHROMIUM, NO_BROWSER, headless_chromium
from tests.serve.conftest import wait_ready

KEY = "console-test-key"
UI = Path(__file__).resolve().parents[2] / "src/ecomtune/deploy/serve/ui"
browser_test = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=NO_BROWSER)


# --- runs, servers, browser ---------------------------------------------------------------------------------------

def _slices() -> dict:
    """slices.json as the slices contract writes it, with one flagged slice."""
    row = lambda s, n, v, gap, flagged: {"slice": s, "n": n, "value": v, "gap": gap, "flagged": flagged,
                                         "metrics": {"macro_f1": v}}
    return {"metric": "macro_f1", "overall": 0.80, "threshold": 5.0, "min_size": 30,
            "slicings": {"length": [row("≤ 12 words", 40, 0.82, 2.0, False), row("> 12 words", 35, 0.70, -10.0, True)],
                         "language": [row("en", 75, 0.80, 0.0, False)]}}


def _compare_folder(root: Path, classify_run: Path) -> Path:
    """A `compare` folder of two methods (the run, and a cheaper, worse copy) written by compare's own writer."""
    from ecomtune.comparison import report
    from ecomtune.comparison.select import pareto_front, pick
    from ecomtune.methods.menu import resolve_methods

    out = root / "sentiment-compare"
    rows = []
    for method, shrink in zip(resolve_methods(["full", "freeze-1"], None), (1.0, 0.25)):
        run = shutil.copytree(classify_run, out / method.name)
        manifest = json.loads((run / "manifest.json").read_text())
        manifest["cost"].update(model_size_mb=manifest["cost"]["model_size_mb"] * shrink,
                                train_seconds=manifest["cost"]["train_seconds"] * shrink,
                                inference_latency_ms_p50=manifest["cost"]["inference_latency_ms_p50"] * shrink)
        manifest["metrics"]["test"]["macro_f1"] *= 0.9 if shrink < 1 else 1.0
        (run / "manifest.json").write_text(json.dumps(manifest))
        rows.append(report.row_from_manifest(method, manifest, "macro_f1", "trained", str(run)))
    choice = pick(rows, 1.0, "model_size_mb")
    report.write_json(out, {"recipe": "sentiment", "task": "classify", "metric": "macro_f1", "tolerance": 1.0,
                            "cost": "model_size_mb", **{k: choice[k] for k in ("best", "recommended")},
                            "pareto": {"model_size_mb": pareto_front(rows, "model_size_mb")}, "methods": rows})
    return out


@pytest.fixture(scope="module")
def runs_dir(classify_run, taxonomy_run, tmp_path_factory):
    """runs/: the two served runs (one with slices.json and a plot linked out of the run) and a compare folder."""
    root = tmp_path_factory.mktemp("console") / "runs"
    sentiment = shutil.copytree(classify_run, root / "sentiment")
    shutil.copytree(taxonomy_run, root / "category")
    (sentiment / "slices.json").write_text(json.dumps(_slices(), ensure_ascii=False), encoding="utf-8")
    manifest = json.loads((sentiment / "manifest.json").read_text(encoding="utf-8"))
    write_manifest(sentiment, {k: v for k, v in manifest.items() if k != "files"})  # slices.json may be listed
    secret = root.parent / "secret.png"
    secret.write_bytes(b"not yours")
    (sentiment / "plots" / "leak.png").symlink_to(secret)
    _compare_folder(root, Path(classify_run))
    return root


def _start(args: list[str], pattern: str):
    """`python -m ecomtune ARGS` in a subprocess; (process, URL) once the URL it prints appears."""
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "ecomtune", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    deadline = time.monotonic() + 60
    while not (found := re.search(pattern, "".join(lines))):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"no server ({proc.poll()}):\n{''.join(lines)}")
        time.sleep(0.05)
    return proc, found.group(1)


@pytest.fixture(scope="module")
def served(runs_dir, tmp_path_factory):
    """`ecomtune serve runs/sentiment runs/category --ui --ui-runs runs/ --api-key-file KEY`: its URL, when ready."""
    key_file = tmp_path_factory.mktemp("key") / "key.txt"
    key_file.write_text(KEY + "\n")
    proc, url = _start(["serve", str(runs_dir / "sentiment"), str(runs_dir / "category"), "--ui", "--ui-runs",
                        str(runs_dir), "--api-key-file", str(key_file), "--port", "0"], r"serving on (http://\S+)")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            wait_ready(client, timeout=60)
        yield url
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def api(served):
    with httpx.Client(base_url=served, timeout=30, headers={"X-API-Key": KEY}) as client:
        yield client


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and DRIVER):
        pytest.skip(NO_BROWSER)
    driver = headless_chromium(tmp_path_factory, browser_log=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """save(browser, name): a screenshot in a temp folder, and a small palette PNG in $ECOMTUNE_CONSOLE_SHOTS."""
    folder = tmp_path_factory.mktemp("shots")
    keep = os.environ.get("ECOMTUNE_CONSOLE_SHOTS")

    def save(driver, name: str) -> Path:
        path = folder / f"console-{name}.png"
        width, height = driver.execute_script("return [window.innerWidth, document.documentElement.scrollHeight]")
        if width > 600:  # the whole page, up to 1,800 px tall
            driver.set_window_size(1280, min(height + 120, 1800))
        try:
            assert driver.save_screenshot(str(path)), name
        finally:
            if width > 600:
                driver.set_window_size(1280, 900)
        if keep:
            from PIL import Image

            image = Image.open(path).convert("RGB")
            image.thumbnail((900, 1300))
            image.quantize(colors=64).save(Path(keep) / path.name, optimize=True)
        return path

    return save


def _wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _errors(driver, allow: str | None = None) -> list[str]:
    """SEVERE browser-log entries since the last call (`allow`: a pattern of expected ones)."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and not (allow and re.search(allow, e["message"]))]


def _open(driver, url: str, ready_js: str | None = None):
    driver.get(url)
    if ready_js:
        _wait(driver, lambda d: d.execute_script(ready_js))


def _by(selector: str):
    from selenium.webdriver.common.by import By

    return By.CSS_SELECTOR, selector


# --- without a browser --------------------------------------------------------------------------------------------

def test_pages_are_open_data_needs_the_key_and_files_come_only_from_the_allow_list(served, api):
    with httpx.Client(base_url=served, timeout=30) as anonymous:
        page = anonymous.get("/ui")
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        assert anonymous.get("/ui/static/console.js").status_code == 200
        assert anonymous.get("/ui/api/runs").status_code == 401
        assert anonymous.get("/v1/models").status_code == 401  # the console opens no hole in the API
    runs = {r["id"]: r for r in api.get("/ui/api/runs").json()["runs"]}
    assert {"sentiment", "category", "sentiment-compare~full", "sentiment-compare~freeze-1"} <= set(runs)
    assert runs["sentiment"]["served"].startswith("sentiment@") and runs["sentiment-compare~full"]["served"] is None
    plot = api.get("/ui/api/runs/sentiment/files/plots/confusion_matrix.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png" and plot.content[:4] == b"\x89PNG"
    for name in ("plots/leak.png", "../secret.png", "plots/../../secret.png", "%2e%2e/secret.png", "manifest.json",
                 "model/model.safetensors", "/etc/passwd", "plots/..%2f..%2fsecret.png", "profile.json"):
        answer = api.get(f"/ui/api/runs/sentiment/files/{name}")
        assert answer.status_code == 404 and b"not yours" not in answer.content, name
    assert "plots/leak.png" not in runs["sentiment"]["plots"]
    assert api.get("/ui/api/runs/nope").status_code == 404
    assert api.get("/ui/api/runs/..~..~etc").status_code == 404


def test_every_asset_is_vendored():
    """No CDN, no web font: every script, stylesheet and image a page names is under /ui/static or the API."""
    names = [p for p in (UI / "templates").glob("*.html")] + [p for p in (UI / "static").iterdir()]
    assert len(names) >= 12
    for path in names:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), path.name
        assert not re.search(r"@import|@font-face|url\(\s*['\"]?(https?:)?//", text), path.name
        assert "fonts.googleapis" not in text and "cdn" not in text.lower(), path.name


# --- in the browser -----------------------------------------------------------------------------------------------

@browser_test
def test_the_key_is_asked_for_kept_in_the_tab_and_sent(browser, served, shots):
    _open(browser, f"{served}/ui")
    alert = _wait(browser, lambda d: d.find_element(*_by("#key-alert")) if d.find_element(
        *_by("#key-alert")).is_displayed() else False)
    assert "API key" in alert.text
    assert browser.switch_to.active_element.get_attribute("id") == "api-key"  # the focus went to the key field
    assert not browser.find_element(*_by("#runs")).is_displayed()
    browser.find_element(*_by("#api-key")).send_keys("wrong")
    browser.find_element(*_by("#key-save")).click()
    _wait(browser, lambda d: "refused" in d.find_element(*_by("#key-alert")).text)
    field = browser.find_element(*_by("#api-key"))
    field.clear()
    field.send_keys(KEY)
    browser.find_element(*_by("#key-save")).click()
    _wait(browser, lambda d: d.find_elements(*_by("#runs tbody tr")))
    assert not browser.find_element(*_by("#key-alert")).is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('ecomtune.apiKey')") == KEY
    assert browser.execute_script("return sessionStorage.getItem('ecomtune.guide.apiKey')") == KEY
    assert not _errors(browser, allow=r"status of 401")


@browser_test
def test_the_runs_list_shows_every_run_and_sorts(browser, served, api, shots):
    _open(browser, f"{served}/ui", "return document.querySelectorAll('#runs tbody tr').length > 0")
    runs = {r["id"]: r for r in api.get("/ui/api/runs").json()["runs"]}
    rows = {r.get_attribute("data-id"): r for r in browser.find_elements(*_by("#runs tbody tr"))}
    assert set(rows) == set(runs)
    sentiment = rows["sentiment"]
    assert "served" in sentiment.text and "classify" in sentiment.text
    quality = runs["sentiment"]["metrics"][runs["sentiment"]["quality"]]
    assert f"{quality:.4f}" in sentiment.text
    assert "taxonomy" in rows["category"].text
    shots(browser, "runs")
    header = browser.find_elements(*_by("#runs thead th button"))[0]  # "Run"
    names = lambda: [c.get_attribute("data-value") for c in browser.find_elements(
        *_by("#runs tbody td:nth-child(2)"))]
    header.click()
    assert names() == sorted(names()) and names()[0] == "category"
    assert browser.find_element(*_by("#runs thead th[aria-sort]")).get_attribute("aria-sort") == "ascending"
    header.click()
    assert names() == sorted(names(), reverse=True) and names()[-1] == "category"
    assert [a.text for a in browser.find_elements(*_by("#compare-list a"))] == ["sentiment-compare"]
    assert not _errors(browser)


@browser_test
def test_a_run_page_shows_metrics_plots_card_and_slices(browser, served, api, shots):
    run = api.get("/ui/api/runs/sentiment").json()
    _open(browser, f"{served}/ui/run?id=sentiment",
          "return !document.getElementById('run').hidden && [...document.querySelectorAll('#plots img')]"
          ".every(i => i.complete && i.naturalWidth > 0)")
    assert browser.find_element(*_by("#run-name")).text == "sentiment"
    assert len(browser.find_elements(*_by("#headline .metric-card"))) == len(run["headline"])
    metrics = browser.find_element(*_by("#metrics")).text
    assert f"{run['splits']['test']['accuracy']:.4f}" in metrics and "validation" in metrics
    assert len(browser.find_elements(*_by("#plots img"))) == len(run["plots"]) >= 2
    assert browser.find_elements(*_by("#card table")), "the model card's tables are not rendered"
    assert browser.find_element(*_by("#card h1")).text == "sentiment"
    tables = browser.find_elements(*_by("#slices table"))
    assert [t.get_attribute("data-slicing") for t in tables] == ["length", "language"]
    flagged = browser.find_elements(*_by("#slices tr.flagged"))
    assert len(flagged) == 1 and "> 12 words" in flagged[0].text and "-10.0" in flagged[0].text
    assert "Train time" in browser.find_element(*_by("#cost")).text
    assert "slices.json" in browser.find_element(*_by("#files")).text
    shots(browser, "run")
    assert not _errors(browser)


@browser_test
def test_ticked_runs_compare_in_a_table_and_a_pareto_plot(browser, served, shots):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    _open(browser, f"{served}/ui", "return document.querySelectorAll('#runs tbody tr').length > 0")
    for run_id in ("sentiment-compare~full", "sentiment-compare~freeze-1", "sentiment"):
        browser.find_element(*_by(f"input[value='{run_id}']")).click()
    browser.find_element(*_by("#compare-ticked")).click()
    _wait(browser, lambda d: d.find_elements(*_by("#pareto .pt")))
    ticked = browser.current_url.replace("%7E", "~").split("runs=")[1].split(",")
    assert sorted(ticked) == ["sentiment", "sentiment-compare~freeze-1", "sentiment-compare~full"]
    assert len(browser.find_elements(*_by("#table tbody tr"))) == 3
    points = browser.find_elements(*_by("#pareto .pt"))
    assert len(points) == 3
    ActionChains(browser).move_to_element(points[0]).perform()
    tip = _wait(browser, lambda d: d.find_element(*_by("#pareto .tip")) if d.find_element(
        *_by("#pareto .tip")).is_displayed() else False)
    assert points[0].get_attribute("data-key") in {"sentiment-compare~full", "sentiment-compare~freeze-1", "sentiment"}
    assert "latency" in tip.text
    Select(browser.find_element(*_by("#cost-axis"))).select_by_value("model_size_mb")
    assert "model size" in browser.find_element(*_by("#pareto svg")).text
    front = browser.find_elements(*_by("#pareto .pt.on-front"))
    assert front and len(browser.find_elements(*_by("#table tr.front"))) == len(front)
    # the table sorts; a point is a link reached by keyboard
    quality = browser.find_elements(*_by("#table thead th button"))[2]
    quality.click()
    values = [float(c.get_attribute("data-value")) for c in browser.find_elements(*_by("#table tbody td:nth-child(3)"))]
    assert values == sorted(values)
    shots(browser, "compare")
    point = browser.find_element(*_by("#pareto .pt[data-key='sentiment']"))
    browser.execute_script("arguments[0].focus()", point)
    assert browser.find_element(*_by("#pareto .tip")).is_displayed()
    point.send_keys(Keys.ENTER)
    _wait(browser, lambda d: d.find_element(*_by("#run-name")).text == "sentiment")
    assert not _errors(browser)


@browser_test
def test_a_compare_folder_marks_its_recommendation(browser, served, api):
    result = api.get("/ui/api/compares/sentiment-compare").json()
    _open(browser, f"{served}/ui/compare?folder=sentiment-compare",
          "return document.querySelectorAll('#pareto .pt').length > 0")
    assert browser.find_element(*_by("#cost-axis")).get_attribute("value") == "model_size_mb"
    assert browser.find_element(*_by("#quality")).get_attribute("value") == "macro_f1"
    rows = {r.get_attribute("data-key"): r.text for r in browser.find_elements(*_by("#table tbody tr"))}
    assert set(rows) == {"full", "freeze-1"}
    assert "recommended" in rows[result["recommended"]]
    assert len(browser.find_elements(*_by("#pareto a.pt"))) == 2  # both linked to their run pages
    assert not _errors(browser)


@browser_test
def test_try_it_answers_as_the_api_does_with_its_explanation(browser, served, api, shots):
    _open(browser, f"{served}/ui/try", "return document.querySelectorAll('section.try form').length >= 2")
    models = api.get("/v1/models").json()["models"]
    assert {s.get_attribute("data-task") for s in browser.find_elements(*_by("section.try"))} == \
        {m["task"] for m in models}
    text = "love it, great dress, fits perfectly"
    card = browser.find_element(*_by("section.try[data-task='classify']"))
    box = card.find_element(*_by("textarea"))
    box.clear()
    box.send_keys(text)
    card.find_element(*_by("button[type='submit']")).click()
    prediction = _wait(browser, lambda d: card.find_elements(*_by(".prediction")) or
                       card.find_elements(*_by(".alert")))[0]
    assert "prediction" in prediction.get_attribute("class"), prediction.text
    answer = api.post("/v1/classify", json={"texts": [text]}).json()["predictions"][0]
    assert prediction.get_attribute("data-label") == answer["label"]
    assert float(prediction.get_attribute("data-score")) == pytest.approx(answer["score"], abs=1e-6)
    explained = api.post("/v1/classify", json={"texts": [text], "explain": True})
    if explained.status_code == 200 and "explanation" in explained.json()["predictions"][0]:
        x = explained.json()["predictions"][0]["explanation"]
        tokens = card.find_elements(*_by(".explanation .tok"))
        assert len(tokens) == len(x["tokens"]) and x["target"] == answer["label"]
        top = max(range(len(x["scores"])), key=lambda i: x["scores"][i])
        assert float(tokens[top].get_attribute("data-score")) == pytest.approx(x["scores"][top], abs=1e-6)
    else:  # a service without explanations: the page says so and still shows the prediction
        assert "does not return explanations" in card.text
    taxonomy = browser.find_element(*_by("section.try[data-task='taxonomy']"))
    taxonomy.find_element(*_by("button[type='submit']")).click()
    path = _wait(browser, lambda d: taxonomy.find_elements(*_by(".prediction")))[0]
    title = taxonomy.find_element(*_by("textarea")).get_attribute("value")
    assert path.get_attribute("data-label") == api.post("/v1/taxonomy", json={"texts": [title]}).json()[
        "predictions"][0]["label"]
    shots(browser, "try")
    assert not _errors(browser)


@browser_test
def test_the_monitor_charts_psi_over_time(browser, served, api, shots):
    for i in range(4):
        assert api.post("/v1/classify", json={"texts": [f"great dress {i}", f"awful fabric {i}", "ok"]}).status_code == 200
    _open(browser, f"{served}/ui/monitor", "return !!document.getElementById('verdict').dataset.action")
    report = api.get("/v1/monitor", params={"model": "sentiment"}).json()
    assert browser.find_element(*_by("#verdict")).get_attribute("data-action") == report["action"]
    assert [r.get_attribute("data-signal") for r in browser.find_elements(*_by("#signals tbody tr"))] == \
        list(report["signals"])
    browser.find_element(*_by("#refresh")).click()
    _wait(browser, lambda d: d.execute_script("const s = document.querySelector('#psi-chart .series');"
                                              "return s ? s.querySelectorAll('circle').length : 0") >= 2)
    assert len(browser.find_elements(*_by("#psi-chart .thr"))) == 2
    assert len(browser.find_elements(*_by("#bars figure"))) == len(report["signals"])
    browser.find_element(*_by("#pause")).click()
    assert browser.find_element(*_by("#pause")).get_attribute("aria-pressed") == "true"
    shots(browser, "monitor")
    assert not _errors(browser)


@browser_test
def test_the_guide_page_and_a_phone_width(browser, served, shots):
    _open(browser, f"{served}/ui/guide")
    assert "No guide model is served here" in browser.find_element(*_by("main")).text
    assert not browser.find_elements(*_by("header nav a[href='/ui/guide']"))
    browser.set_window_size(390, 844)
    try:
        for page, ready in (("/ui", "#runs tbody tr"), ("/ui/run?id=sentiment", "#plots img"),
                            ("/ui/compare?folder=sentiment-compare", "#pareto .pt"), ("/ui/try", "section.try")):
            _open(browser, served + page, f"return document.querySelectorAll({ready!r}).length > 0")
            width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1] + 1, (page, width)  # wide tables scroll in their own box
            assert browser.find_element(*_by("header nav")).is_displayed()
        shots(browser, "phone")
    finally:
        browser.set_window_size(1280, 900)
    assert not _errors(browser)


@browser_test
def test_ecomtune_ui_browses_runs_without_models(browser, runs_dir, served, shots):
    proc, url = _start(["ui", str(runs_dir), "--port", "0", "--serve-url", served], r"console on (http://\S+)/ui")
    try:
        listed = httpx.get(f"{url}/ui/api/runs", timeout=30).json()
        assert {r["id"] for r in listed["runs"]} == {"sentiment", "category", "sentiment-compare~full",
                                                     "sentiment-compare~freeze-1"}
        assert all(r["served"] is None for r in listed["runs"])
        _open(browser, f"{url}/ui", "return document.querySelectorAll('#runs tbody tr').length === 4")
        assert not browser.find_elements(*_by("#runs .badge.good"))  # nothing is served here
        _open(browser, f"{url}/ui/try")
        assert "loads no model" in browser.find_element(*_by("main")).text
        assert browser.find_element(*_by("#serve-link")).get_attribute("href") == f"{served}/ui/try"
        assert not _errors(browser)
    finally:
        proc.kill()
        proc.wait(10)


def test_ecomtune_ui_refuses_a_missing_folder_and_serve_ui_runs_needs_ui(tmp_path):
    from typer.testing import CliRunner

    from ecomtune.cli.app import app
    from ecomtune.cli.main import _register
    from ecomtune.deploy.serve.settings import ServeError

    _register()
    result = CliRunner().invoke(app, ["ui", str(tmp_path / "nope"), "--port", "0"], env={"COLUMNS": "200"})
    assert isinstance(result.exception, ServeError) and "not a directory" in str(result.exception)
    result = CliRunner().invoke(app, ["serve", str(tmp_path), "--ui-runs", str(tmp_path)], env={"COLUMNS": "200"})
    assert isinstance(result.exception, ServeError) and "add --ui" in str(result.exception)
