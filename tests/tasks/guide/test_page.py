"""GET /guide in a real browser: headless Chromium (via Selenium) on a real `ecomtune serve` process — upload a room
photo, type a request, read the bundle off the page; submit nothing, read the server's error off the page."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import CHROMEDRIVER, CHROMIUM, NO_BROWSER, headless_chromium
from tests.serve.conftest import wait_ready
from tests.tasks.guide.conftest import COLOURS, collage

pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason=NO_BROWSER)


@pytest.fixture(scope="module")
def guide_url(guide_run):
    """`python -m ecomtune serve GUIDE_DIR --port 0` in a subprocess; its URL once /readyz says ready."""
    env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "ecomtune", "serve", str(guide_run), "--port", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []

    def read():  # the URL is printed on stderr; keep draining it so the server never blocks on a full pipe
        for line in proc.stderr:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not (found := re.search(r"serving on (http://\S+)", "".join(lines))):
            assert proc.poll() is None and time.monotonic() < deadline, f"no server ({proc.poll()}):\n{''.join(lines)}"
            time.sleep(0.05)
        with httpx.Client(base_url=found.group(1), timeout=30) as client:
            wait_ready(client, timeout=60)
        yield found.group(1)
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory)
    yield driver
    driver.quit()


def _wait(driver, condition, timeout: float = 20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _open(browser, url):
    browser.get(f"{url}/guide")
    assert browser.title.startswith("Room guide")
    assert browser.find_element("id", "error").is_displayed() is False


def test_a_photo_and_a_request_get_a_bundle_of_cards(browser, guide_url, tmp_path):
    from selenium.webdriver.common.by import By

    room = tmp_path / "room.jpg"
    room.write_bytes(collage([COLOURS["white"]] * 3 + [(120, 90, 60)], seed=7))
    _open(browser, guide_url)
    browser.find_element(By.ID, "photo").send_keys(str(room))
    _wait(browser, lambda d: d.execute_script("const p = document.getElementById('photo-preview');"
                                              "return !p.hidden && p.complete && p.naturalWidth > 0"))
    browser.find_element(By.ID, "text").send_keys("a white bedroom, budget 500")
    browser.find_element(By.ID, "submit").click()
    _wait(browser, lambda d: d.find_element(By.ID, "result").is_displayed() or d.find_element(By.ID, "error").is_displayed())
    assert not browser.find_element(By.ID, "error").is_displayed(), browser.find_element(By.ID, "error").text

    cards = browser.find_elements(By.CSS_SELECTOR, "#items .item")
    assert cards, "no item card"
    for card in cards:
        price = card.find_element(By.CSS_SELECTOR, ".price")
        assert float(price.get_attribute("data-value")) > 0 and "SAR" in price.text, price.text
        reasons = [li.text for li in card.find_elements(By.CSS_SELECTOR, ".reasons li")]
        assert reasons and all(r.strip() for r in reasons), card.text
        assert card.find_element(By.CSS_SELECTOR, ".name").text.strip()
    total = browser.find_element(By.ID, "total")
    assert 0 < float(total.get_attribute("data-value")) <= 500 and "SAR" in total.text, total.text
    assert sum(float(c.find_element(By.CSS_SELECTOR, ".price").get_attribute("data-value")) for c in cards) == \
        pytest.approx(float(total.get_attribute("data-value")))
    assert browser.find_element(By.ID, "budget-shown").get_attribute("data-value") == "500"
    scene = browser.find_element(By.ID, "scene")
    assert scene.get_attribute("data-value") == "bedroom" and scene.text.lower() == "bedroom"
    assert "request" in browser.find_element(By.ID, "scene-from").text  # the request named the room
    assert browser.find_elements(By.CSS_SELECTOR, "#photo-scenes .chip"), "the photo's scenes are not shown"

    loaded = _wait(browser, lambda d: d.execute_script(
        "const imgs = [...document.querySelectorAll('#items .item .photo img')];"
        "return imgs.length && imgs.every(i => i.complete) ? imgs.filter(i => i.naturalWidth > 0).length : false"))
    assert loaded >= 1, "no product photo loaded"


def test_an_empty_form_shows_the_servers_error(browser, guide_url):
    from selenium.webdriver.common.by import By

    _open(browser, guide_url)
    browser.find_element(By.ID, "submit").click()
    error = _wait(browser, lambda d: d.find_element(By.ID, "error") if d.find_element(By.ID, "error").is_displayed()
                  else False)
    assert "422" in error.text and "nothing to go on" in error.text, error.text
    assert not browser.find_element(By.ID, "result").is_displayed()
    assert not browser.find_elements(By.CSS_SELECTOR, "#items .item")
    assert browser.find_element(By.ID, "submit").is_enabled()  # the loading state ended
