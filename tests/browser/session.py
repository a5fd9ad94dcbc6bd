"""Signing in through the real form, as a person does."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME


def sign_in(page: Page, then: str) -> None:
    """Open `then`, sign in on the page it sends you to, and land back on `then`."""
    page.goto(then)
    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(then) + "$"))
