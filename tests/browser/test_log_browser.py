"""The sync log in a real browser: a write that Salesforce refuses is found by the record's id,
its message read, the mapping fixed, Retry pressed and the event seen synced; Retry-all asks
first and shows its progress; the dashboard's counts move by themselves."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.screens import screenshot
from tests.browser.session import sign_in
from tests.support.events import NAME_FROM_COMPANY_NAME, fix_the_mapping
from tests.support.scenario import connect


def test_a_failed_write_is_found_read_fixed_and_retried(page: Page, app, runner, fakes, tmp_path):
    gw = connect(app, runner, fakes, mappings=NAME_FROM_COMPANY_NAME)
    customer = gw.customer(DisplayName="Acme Ltd", BillAddr={"City": "Leeds"})
    gw.customer(DisplayName="Other Ltd", CompanyName="Other Ltd")  # synced: noise in the log
    gw.settle()

    sign_in(page, "/admin/log")
    page.get_by_label("Record id").fill(customer["Id"])
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"q={customer['Id']}"))
    rows = page.locator("#log-rows tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("failed")
    screenshot(page, "log-filtered")

    rows.first.get_by_role("link", name=re.compile(rf"Customer {customer['Id']}")).click()
    expect(page.locator("#event-reason")).to_contain_text("Required fields are missing: [Name]")
    attempts = page.get_by_role("table").first
    expect(attempts).to_contain_text("REQUIRED_FIELD_MISSING")
    screenshot(page, "log-event-failed")

    fix_the_mapping(runner, tmp_path)
    page.get_by_role("button", name="Retry").click()
    gw.settle()
    page.reload()
    expect(page.locator("h1 .badge")).to_have_text("synced")
    expect(page.get_by_role("link", name=re.compile(r"in Salesforce"))).to_be_visible()
    screenshot(page, "log-event-synced")
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"


def test_retry_all_asks_then_shows_its_progress(page: Page, app, runner, fakes, tmp_path):
    gw = connect(app, runner, fakes, mappings=NAME_FROM_COMPANY_NAME)
    for name in ("A", "B", "C"):
        gw.customer(DisplayName=f"Customer {name}")
    gw.settle()

    sign_in(page, "/admin/log?status=failed")
    expect(page.get_by_text("3 events: REQUIRED_FIELD_MISSING on Account.Name")).to_be_visible()
    screenshot(page, "log-failures")
    page.get_by_role("link", name="Retry all matching this filter").click()
    expect(page.get_by_text("3 failed events match this filter")).to_be_visible()
    screenshot(page, "log-retry-all-confirm")

    fix_the_mapping(runner, tmp_path)
    page.get_by_role("button", name="Retry 3 events").click()
    expect(page.get_by_role("status").first).to_contain_text("queued")
    gw.settle()
    expect(page.get_by_text("3 of 3 · finished")).to_be_visible()  # the page polls itself
    screenshot(page, "log-retry-all-done")
    page.get_by_role("link", name="Back to the log").click()
    expect(page.locator("#log-rows .badge.ok")).to_have_count(3)


def test_the_dashboard_counts_move_by_themselves(page: Page, app, runner, fakes):
    gw = connect(app, runner, fakes, mappings=NAME_FROM_COMPANY_NAME)
    gw.customer(DisplayName="Synced Ltd", CompanyName="Synced Ltd")
    gw.settle()
    sign_in(page, "/admin/")
    expect(page.locator('[data-count="synced"]')).to_have_text("1")
    expect(page.locator('[data-count="failed"]')).to_have_text("0")

    gw.customer(DisplayName="Refused Ltd")  # no CompanyName: Salesforce refuses it
    gw.settle()
    # No reload: the dashboard polls every 5 s.
    expect(page.locator('[data-count="failed"]')).to_have_text("1", timeout=12_000)
    expect(page.get_by_text("REQUIRED_FIELD_MISSING on Account.Name")).to_be_visible()
    screenshot(page, "dashboard")
