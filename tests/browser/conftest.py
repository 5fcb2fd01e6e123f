"""The console in a real browser: headless Chromium driven by chromedriver (selenium), one
browser and one seeded `ipam serve` per module, cookies cleared between tests.

Skipped, with the reason, when Chromium, chromedriver or selenium is missing, unless
`IPAM_REQUIRE_BROWSER=1` (CI), where that fails the tests. No download is ever attempted:
the driver's path is given, so selenium-manager is not asked for one.
"""

from __future__ import annotations

import base64
import os
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.lab import Lab, seed
from tests.live import ROOT, ipam_serve

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = Path(os.environ.get("IPAM_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("IPAM_CHROMEDRIVER", "/usr/bin/chromedriver"))
REQUIRE_BROWSER = os.environ.get("IPAM_REQUIRE_BROWSER") == "1"
SCREENSHOTS = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1400, 1000
MAX_SCREENSHOT_HEIGHT = 3000  # a long history is cut: the picture shows the page, not all of it
WAIT = 30  # seconds for a page to load or a swap to land


def _missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return 'selenium is not installed (pip install -e ".[test]")'
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[WebDriver]:
    """Headless Chromium for the module, with a fresh profile; its console log kept."""
    reason = _missing()
    if reason is not None:
        if REQUIRE_BROWSER:
            pytest.fail(f"the browser tests are required (IPAM_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(f"no browser: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="ipam-chromium-") as profile:
        options = Options()
        options.binary_location = str(CHROMIUM)
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", f"--window-size={WIDTH},{HEIGHT}",
                         f"--user-data-dir={profile}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.set_page_load_timeout(WAIT)
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A server of the module's own on a SQLite file, seeded as the README's walk-through."""
    workdir = tmp_path_factory.mktemp("console")
    with ipam_serve(f"sqlite:///{workdir / 'ipam.db'}", workdir) as live:
        yield seed(live)


@dataclass
class Console:
    """The browser on the lab's console: navigate, read, fill forms, take pictures."""

    driver: WebDriver
    url: str

    def open(self, path: str) -> None:
        self.driver.get(self.url + path)

    @property
    def path(self) -> str:
        """The current URL without the server's origin."""
        current: str = self.driver.current_url
        return current.removeprefix(self.url)

    def find(self, css: str) -> WebElement:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def until(self, condition: Callable[[], object]) -> None:
        """Wait until `condition()` is true, asking again while the page it reads is replaced
        (a swap or a navigation under way)."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.wait import WebDriverWait

        WebDriverWait(self.driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            lambda _: condition())

    def navigating(self, action: Callable[[], Any]) -> None:
        """Do `action` (a click, a submit) and wait until the next page has loaded: a mark
        left on the old page's window is gone, the new document complete. (Waiting for an old
        element to go stale races the navigation in chromedriver.)"""
        self.driver.execute_script("window.ipamLeaving = true")
        action()
        self.until(lambda: self.driver.execute_script(
            "return window.ipamLeaving === undefined && document.readyState === 'complete'"))

    def submit(self, form: str, **fields: str) -> None:
        """Type into the fields of the form (by name) and press its submit button."""
        for name, value in fields.items():
            field = self.find(f'{form} [name="{name}"]')
            if field.tag_name == "select":
                from selenium.webdriver.support.select import Select

                Select(field).select_by_value(value)
            else:
                field.clear()
                field.send_keys(value)
        self.navigating(self.find(f'{form} [type="submit"]').click)

    def follow(self, css: str) -> None:
        """Click the link and wait for its page."""
        self.navigating(self.find(css).click)

    def sign_in(self, token: str) -> None:
        self.open("/ui/")
        self.submit("form.signin", token=token)
        assert self.text("h1") == "Overview", self.driver.page_source

    def screenshot(self, name: str) -> Path:
        """The whole page (up to MAX_SCREENSHOT_HEIGHT), WIDTH pixels wide, saved as
        docs/screenshots/<name>.png (overwritten)."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        height = min(int(metrics["cssContentSize"]["height"]), MAX_SCREENSHOT_HEIGHT)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
        png = base64.b64decode(shot["data"])
        assert png_size(png) == (WIDTH, height)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.write_bytes(png)
        return path

    def problems(self) -> list[str]:
        """What the browser's console reported since last asked, other than the statuses of
        refusals the tests ask for (a 401, 403 or 404 page): scripts' errors, CSP violations."""
        return [entry["message"] for entry in browser_log(self.driver)
                if entry["level"] in ("SEVERE", "WARNING")
                and "the server responded with a status of 40" not in entry["message"]]


def browser_log(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser console's entries since last asked (selenium's `get_log`, typed)."""
    from selenium.webdriver.remote.command import Command

    entries: list[dict[str, Any]] = driver.execute(Command.GET_LOG, {"type": "browser"})["value"]
    return entries


def png_size(png: bytes) -> tuple[int, int]:
    """A PNG's width and height, from its header."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


@pytest.fixture
def console(chromium: WebDriver, lab: Lab) -> Iterator[Console]:
    """The module's browser, signed out (no cookies), on the lab; after the test, the page
    must not have reported a script error or a Content-Security-Policy violation."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser_log(chromium)  # what an earlier test left
    page = Console(chromium, lab.url)
    yield page
    assert page.problems() == []
