"""Headless Chromium (Debian's chromium and chromium-driver) through Selenium, for what people see: pages are
opened, screenshotted and read back as DOM, console messages and every network request the page made.

Without Chromium the browser tests skip; CI sets VMO_REQUIRE_BROWSER=1 (and installs it), so there they fail.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

CHROMIUM = os.environ.get("VMO_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VMO_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_BROWSER = os.environ.get("VMO_REQUIRE_BROWSER") == "1"
# Root needs --no-sandbox; the rest keeps Chromium from calling home (updates, metrics, first-run pages).
ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--disable-sync",
    "--metrics-recording-only",
    "--window-size=1280,1800",
)


@dataclass
class Visit:
    """What a page did and showed."""

    requests: list[str]
    console: list[dict]
    screenshot: bytes


@contextmanager
def chromium() -> Iterator:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        message = f"{CHROMIUM} and {CHROMEDRIVER} are needed: apt-get install chromium chromium-driver"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in ARGUMENTS:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def visit(driver, url: str, ready=None, timeout: float = 30) -> Visit:
    """Open `url`, wait until `ready(driver)` holds (default: the document has loaded), and collect every request
    the page made, its console messages and a screenshot of the whole page."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("performance")  # forget what earlier pages did
    driver.get_log("browser")
    driver.get(url)
    WebDriverWait(driver, timeout).until(
        ready or (lambda d: d.execute_script("return document.readyState") == "complete")
    )
    requests = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requests.append(message["params"]["request"]["url"])
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 800), 12000))
    return Visit(requests, driver.get_log("browser"), driver.get_screenshot_as_png())


def colours(png: bytes) -> int:
    """How many different colours a screenshot has (a blank page has one or two)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.thumbnail((400, 400))
    return len(image.getcolors(maxcolors=400 * 400))
