"""A person building a Customer -> Account mapping in the pages, in a real browser: rows added and
removed without a reload, the server's check answering as they type, Save, a preview on a real
customer, and the list."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import select

from gateway.extensions import db
from gateway.models import ObjectMapping
from tests.browser.screens import screenshot
from tests.conftest import ADMIN_PASSWORD, ADMIN_USERNAME
from tests.support.scenario import connect


def sign_in(page: Page) -> None:
    page.goto("/admin/login")
    page.get_by_label("Username").fill(ADMIN_USERNAME)
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def field_pair(page: Page, index: int, quickbooks: str, salesforce: str) -> None:
    page.get_by_label("QuickBooks field", exact=True).nth(index).fill(quickbooks)
    page.get_by_label("Salesforce field", exact=True).nth(index).fill(salesforce)
    page.get_by_label("Salesforce field", exact=True).nth(index).press("Tab")  # change fires


def test_create_a_customer_mapping_with_fields_through_the_pages(page: Page, app, runner, fakes):
    scenario = connect(app, runner, fakes, mappings="mappings: []\n")
    customer = scenario.customer(DisplayName="Acme Ltd", BillAddr={"City": "Leeds"})
    scenario.platforms.wait_webhooks_delivered()
    sign_in(page)

    page.get_by_role("navigation").get_by_role("link", name="Mappings").click()
    expect(page.get_by_text("No mappings yet.")).to_be_visible()
    page.get_by_role("link", name="New mapping").click()
    page.get_by_label("Name", exact=True).fill("clients")
    page.get_by_label("QuickBooks object").select_option("Customer")
    page.get_by_label("Salesforce object").select_option("Account")
    check = page.locator("#problems")
    # The server's check answers as the form changes.
    expect(check).to_contain_text("required Salesforce field Account Name (Name) is not mapped")

    page.get_by_role("button", name="Add field").click()
    expect(page.get_by_label("QuickBooks field", exact=True)).to_be_focused()  # the new row
    field_pair(page, 0, "DisplayName", "Name")
    page.get_by_role("button", name="Add field").click()
    field_pair(page, 1, "BillAddr.City", "BillingCity")
    page.get_by_role("button", name="Add field").click()
    field_pair(page, 2, "MetaData.CreateTime", "QBO_Balance__c")  # a mistake, then removed
    mistake = page.locator(".map-row").nth(2)
    expect(mistake).to_contain_text("puts a date into a number field")
    expect(check).to_contain_text("Incomplete")
    mistake.get_by_role("button", name="Remove this row").click()
    expect(page.get_by_label("QuickBooks field", exact=True)).to_have_count(2)
    expect(check).to_contain_text("Complete, with warnings")
    expect(page.locator(".map-row").nth(1)).to_contain_text(
        "QuickBooks allows 255 characters, Salesforce keeps 40"
    )
    screenshot(page, "mappings-editor")

    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    db.session.rollback()
    stored = db.session.execute(select(ObjectMapping)).scalar_one()
    assert stored.spec["fields"] == [
        {"quickbooks": "DisplayName", "salesforce": "Name", "direction": "both"},
        {"quickbooks": "BillAddr.City", "salesforce": "BillingCity", "direction": "both"},
    ]
    assert stored.spec["realtime"] is False  # switched on in Real-Time Configuration

    page.get_by_label("Record id").fill(customer["Id"])
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Would write to Salesforce")
    expect(preview).to_contain_text('"Name": "Acme Ltd"')
    expect(preview).to_contain_text('"BillingCity": "Leeds"')
    assert scenario.platforms.calls("sf", "write") == []

    page.get_by_role("link", name="Mappings", exact=True).first.click()
    expect(page).to_have_url(re.compile(r"/admin/mappings$"))
    row = page.get_by_role("row", name=re.compile("clients"))
    expect(row).to_contain_text("Complete")
    screenshot(page, "mappings")
    # No request of this page may still be running in the gateway when the test's app goes.
    page.wait_for_load_state("networkidle")
