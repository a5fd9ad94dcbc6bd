"""Playwright driving Debian's chromium against the live gateway and the emulators.

No browser download: the system chromium is launched by path (`make test` installs it with
apt-get when missing). Without it these tests fail, loudly, rather than skip.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser.screens import DESKTOP

# The closed network refuses Chromium's own background calls; these keep it from trying.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run `make test` (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def app_overrides(live_gateway) -> dict:
    # The OAuth callbacks must come back to the gateway the browser is using; real time takes
    # effect at once instead of after the edge's short cache.
    return {"PUBLIC_URL": live_gateway.url, "LOOKUP_CACHE_SECONDS": 0.0}


@pytest.fixture
def page(browser, app, live_gateway) -> Iterator[Page]:
    # The emulators' certificate comes from a throwaway CA the browser does not know; only this
    # browser context skips the check (the gateway's own clients verify it through
    # REQUESTS_CA_BUNDLE).
    context = browser.new_context(
        base_url=live_gateway.url, viewport=DESKTOP, ignore_https_errors=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
