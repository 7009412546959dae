"""The portal in a real browser: Debian's Chromium driven by Playwright, on the
embedded stack (Tansu, the three services and the portal as real processes on
free loopback ports). Every page is checked for requests leaving the portal."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import httpx
import pytest

from shared.ops.embedded import EmbeddedStack, free_ports
from tests.waiting import wait_for  # noqa: F401  (the page tests import it from here)

CHROMIUM = os.environ.get("PINGYI_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
# Set to a directory (docs/screenshots) to save a screenshot of each page.
SCREENSHOTS = os.environ.get("PINGYI_SCREENSHOTS")
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
BOARD = {"viewport": {"width": 1920, "height": 1080}}


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    ports = free_ports()
    var = tmp_path_factory.mktemp("portal-stack") / "var"
    # The portal reads the public endpoints from one address; the test reads them too.
    env = {"RATE_LIMIT_PUBLIC_READ": "100000/minute", "RATE_LIMIT_PUBLIC_VOTE_IP": "100000/minute"}
    # A generous start: the machine running the tests may be busy.
    running = EmbeddedStack(var_dir=var, ports=ports, extra_env=env).start(ready_timeout=240)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def api(stack):
    clients = {s: httpx.Client(base_url=stack.url(s), headers=stack.operator_headers, timeout=15)
               for s in ("voting", "scoring", "tracking")}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture(scope="package")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}: make tools installs Debian's chromium"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


class Visit:
    """A browser context on the portal that records every request sent anywhere else."""

    def __init__(self, browser, portal_url: str, **options) -> None:
        self.portal = portal_url
        self.external: list[str] = []
        self.context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **options)
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.portal + "/") or url.startswith("data:"):
            route.continue_()
        else:
            self.external.append(url)
            route.abort()

    def open(self, path: str):
        response = self.page.goto(self.portal + path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        assert self.page.locator("html").get_attribute("lang") == "zh-CN"
        return self.page

    def screenshot(self, name: str) -> None:
        if SCREENSHOTS:
            Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.external == [], f"pages loaded external URLs: {self.external}"


@pytest.fixture
def visit(browser, stack):
    opened: list[Visit] = []

    def make(**options) -> Visit:
        v = Visit(browser, stack.url("portal"), **(options or DESKTOP))
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def today_in_shanghai() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
