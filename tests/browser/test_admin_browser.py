"""A person setting the gateway up from the pages, in a real browser: sign in, connect both
platforms through their OAuth pages, switch real time on (refused while a required field is
unmapped), and watch a new QuickBooks customer appear in Salesforce."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.screens import screenshot
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.admin import COMPLETE, NAME_MISSING, import_mappings
from tests.support.drain import settle
from tests.support.platforms import Platforms


def sign_in(page: Page) -> None:
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    screenshot(page, "login")
    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_set_up_from_the_pages(page: Page, app, runner, fakes, tmp_path):
    platforms = Platforms(fakes)
    realm = platforms.new_company()["realmId"]
    platforms.new_org()

    sign_in(page)
    expect(page).to_have_url(re.compile(r"/admin/setup$"))  # nothing connected yet
    expect(page.get_by_text("Connect a QuickBooks company.")).to_be_visible()
    screenshot(page, "setup")

    page.get_by_role("navigation").get_by_role("link", name="Connections").click()
    page.get_by_role("button", name="Connect to QuickBooks").click()
    expect(page.get_by_role("heading", name="Connect to QuickBooks")).to_be_visible()  # Intuit
    page.get_by_label(re.compile(realm)).check()
    page.get_by_role("button", name="Authorize").click()
    expect(page).to_have_url(re.compile(r"/admin/connections$"))
    expect(page.get_by_text("Connected QuickBooks company Test Co")).to_be_visible()

    page.get_by_role("button", name="Connect Salesforce").click()
    expect(page.get_by_role("heading", name="Allow Access?")).to_be_visible()  # Salesforce
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text(re.compile(r"Connected Salesforce org 00D"))).to_be_visible()
    page.get_by_role("button", name="Test connection to Test Co").click()
    expect(page.get_by_text("QuickBooks company Test Co answered.")).to_be_visible()
    # htmx 2 is loaded, and a request with no form of its own carries the CSRF token from
    # <body hx-headers> (what the inline editing of other pages relies on).
    assert page.evaluate("htmx.version").startswith("2.0.")
    page.evaluate(
        "htmx.ajax('POST', '/admin/connections/salesforce/test',"
        " {source: '#connections', target: '#connections', swap: 'outerHTML'})"
    )
    expect(page.get_by_text(re.compile(r"Salesforce org 00D\w+ answered"))).to_be_visible()
    screenshot(page, "connections")

    import_mappings(runner, tmp_path, NAME_MISSING)
    page.goto("/admin/realtime")
    switch = page.get_by_label("Customer")
    expect(switch).to_have_attribute("aria-disabled", "true")
    expect(
        page.get_by_text(re.compile(r"required Salesforce field Account Name \(Name\)"))
    ).to_be_visible()
    switch.click(force=True)  # Playwright itself treats aria-disabled as not clickable
    expect(switch).not_to_be_checked()  # refused in the page; the server refuses it too
    screenshot(page, "realtime-incomplete")

    import_mappings(runner, tmp_path, COMPLETE)
    page.reload()
    switch = page.get_by_label("Customer")
    expect(switch).not_to_have_attribute("aria-disabled", "true")
    switch.focus()  # from the keyboard: Space ticks, Enter on Save saves
    page.keyboard.press("Space")
    expect(switch).to_be_checked()
    page.get_by_role("button", name="Save").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Saved: Customer on for Test Co")).to_be_visible()
    expect(page.get_by_label("Customer")).to_be_checked()
    screenshot(page, "realtime")

    platforms.qbo_save(
        realm, "Customer", {"DisplayName": "Browser Bikes", "BillAddr": {"City": "Oslo"}}
    )
    settle(app, platforms.wait_webhooks_delivered, until=lambda: bool(accounts(platforms)))
    account = accounts(platforms)[0]
    assert account["BillingCity"] == "Oslo"
    assert account["QBO_Id__c"].startswith(f"{realm}-")

    page.goto("/admin/setup")
    expect(page.get_by_text("Set-up is complete.")).to_be_visible()
    page.goto("/admin/")
    screenshot(page, "home")


def accounts(platforms: Platforms) -> list[dict]:
    return [a for a in platforms.sf_records("Account") if a.get("Name") == "Browser Bikes"]
