"""Screenshots of the admin pages at desktop and phone width."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from playwright.sync_api import Page

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The README's pictures are refreshed on request (UPDATE_SCREENSHOTS=1); otherwise they go to a
# scratch directory so a test run leaves the working tree clean.
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SCREENSHOTS = (
    DOCS_SCREENSHOTS
    if os.environ.get("UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "gateway-admin-screenshots"
)


def screenshot(page: Page, name: str) -> None:
    """docs/screenshots/<name>-1280.png and <name>-phone.png of the page as it is now."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}-1280.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
