"""/admin/runs in a real browser: a batch run started from the page, its progress bar moving
by itself (counts, ETA) to done with its samples; a run cancelled half way; the review list
resolved by picking a candidate and by "create new"; a schedule saved, changed and removed.

The worker runs in the test, a page (two records) at a time, so the page is seen mid-run."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.screens import screenshot
from tests.browser.session import sign_in
from tests.support.batch import batch_scenario
from tests.support.drain import run_batch_worker as work


@pytest.fixture
def gw(app, runner, fakes):
    return batch_scenario(app, runner, fakes)


def start_run(page: Page, mapping: str = "customers") -> None:
    """Start a run from the form and wait for the page to show it queued (then its job is)."""
    page.get_by_label("Mapping", exact=True).select_option(mapping)
    page.get_by_role("button", name="Start run").click()
    expect(latest_run(page)).to_contain_text("queued")


def assert_well_formed(page: Page) -> None:
    """As the page is now, after its swaps: ids unique, every control labelled."""
    duplicates = page.evaluate(
        "() => { const ids = [...document.querySelectorAll('[id]')].map(e => e.id);"
        " return ids.filter((id, n) => ids.indexOf(id) !== n); }"
    )
    assert duplicates == []
    unlabelled = page.evaluate(
        "() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]"
        ".filter(e => !e.labels.length && !e.getAttribute('aria-label')).map(e => e.outerHTML)"
    )
    assert unlabelled == []


def latest_run(page: Page):
    return page.locator("#runs-table tbody tr").first


def test_a_run_started_from_the_page_moves_to_done_by_itself(page: Page, gw):
    for n in range(5):
        gw.customer(DisplayName=f"Customer {n}", PrimaryEmailAddr={"Address": f"c{n}@x.test"})
    sign_in(page, "/admin/runs")
    expect(page.get_by_text("No batch runs yet.")).to_be_visible()
    expect(page.get_by_text("Nothing waits for review.")).to_be_visible()
    expect(page.get_by_text("No scheduled runs.")).to_be_visible()

    start_run(page)
    row = latest_run(page)
    bar = row.get_by_role("progressbar")
    expect(bar).to_be_visible()

    gw.platforms.settings("qbo", latency_ms=300)  # a pace the ETA can go by
    work(max_jobs=1)  # the first page: 2 of 5
    # No reload: the table polls itself every 2 s while a run is unfinished.
    expect(row).to_contain_text("running")
    expect(row).to_contain_text("2 of 5")
    expect(bar).to_have_attribute("value", "2")
    expect(row).to_contain_text(re.compile(r"about \d+ s left"))
    expect(page.locator("#runs-status")).to_contain_text("2 of 5")
    assert_well_formed(page)
    screenshot(page, "runs-in-progress")

    gw.platforms.settings("qbo", latency_ms=0)
    work()
    expect(row).to_contain_text("done")
    expect(row).to_contain_text("5 of 5")
    expect(row).to_contain_text("created 5")
    expect(row).not_to_contain_text("left")
    expect(page.locator("#runs-table")).not_to_have_attribute("hx-trigger", re.compile("."))
    row.get_by_text("Samples").click()
    samples = row.locator("details li")
    expect(samples).to_have_count(5)
    expect(samples.first).to_contain_text(re.compile(r"created Customer \d+: created"))
    screenshot(page, "runs-finished")
    assert len(gw.accounts()) == 5


def test_a_run_cancelled_from_the_page_stops_after_its_page(page: Page, gw):
    for n in range(5):
        gw.customer(DisplayName=f"Customer {n}")
    sign_in(page, "/admin/runs")
    start_run(page)
    work(max_jobs=1)
    row = latest_run(page)
    expect(row).to_contain_text("2 of 5")
    cancel = row.get_by_role("button", name=re.compile(r"Cancel run \d+"))
    # From the keyboard: the poll replaces the table under the focused button; htmx gives the
    # focus back to the new one (same id), so Enter still cancels.
    cancel.focus()
    cancel.evaluate("button => button.setAttribute('data-before-poll', '')")
    expect(page.locator("[data-before-poll]")).to_have_count(0)  # replaced by a poll
    expect(cancel).to_be_focused()
    page.keyboard.press("Enter")
    expect(row).to_contain_text("cancelled")
    expect(row.get_by_role("button", name=re.compile("Cancel run"))).to_have_count(0)
    work()  # the next page's job finds the run cancelled
    assert len(gw.accounts()) == 2


def test_the_review_list_is_resolved_from_the_page(page: Page, gw):
    twins = {
        email: [
            gw.platforms.sf_create("Account", {"Name": f"{name} {n}", "Email__c": email})
            for n in (1, 2)
        ]
        for name, email in (("Acme", "ap@acme.test"), ("Bolt", "ap@bolt.test"))
    }
    acme = gw.customer(DisplayName="Acme", PrimaryEmailAddr={"Address": "ap@acme.test"})
    bolt = gw.customer(DisplayName="Bolt", PrimaryEmailAddr={"Address": "ap@bolt.test"})
    gw.customer(DisplayName="Clear", PrimaryEmailAddr={"Address": "ap@clear.test"})
    sign_in(page, "/admin/runs")
    start_run(page)
    work()
    row = latest_run(page)
    expect(row).to_contain_text("done")
    expect(row).to_contain_text("review 2")
    # The list fills in when the run finishes, without a reload.
    acme_item = page.get_by_role("group", name=re.compile(rf"Customer {acme['Id']}\b"))
    bolt_item = page.get_by_role("group", name=re.compile(rf"Customer {bolt['Id']}\b"))
    expect(acme_item).to_be_visible()
    expect(bolt_item).to_be_visible()
    assert_well_formed(page)
    screenshot(page, "runs-review")

    chosen = twins["ap@acme.test"][1]
    acme_item.get_by_role("radio", name=re.compile(chosen["Id"])).check()
    acme_item.get_by_role("button", name=re.compile("Resolve")).click()
    expect(acme_item).to_have_count(0)
    bolt_item.get_by_label("Create new").check()
    bolt_item.get_by_role("button", name=re.compile("Resolve")).click()
    expect(page.get_by_text("Nothing waits for review.")).to_be_visible()

    work()  # the decisions are written by the worker
    assert gw.account(acme["Id"])["Id"] == chosen["Id"]
    created = gw.account(bolt["Id"])
    assert created["Id"] not in {a["Id"] for a in twins["ap@bolt.test"]}
    assert len(gw.accounts()) == 4 + 2  # the twins, Bolt's new one and Clear


def test_a_schedule_is_saved_changed_and_removed(page: Page, gw):
    sign_in(page, "/admin/runs")
    page.get_by_label("Mapping to schedule").select_option("customers")
    page.get_by_label("Every (seconds)").fill("30")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#request-status")).to_contain_text("at least 60 seconds")

    page.get_by_label("Every (seconds)").fill("3600")
    page.get_by_role("button", name="Save schedule").click()
    schedules = page.locator("#schedules li")
    expect(schedules).to_have_count(1)
    expect(schedules.first).to_contain_text("every 3600 s")

    # Saving the same mapping and company again changes its schedule.
    page.get_by_label("Every (seconds)").fill("")
    page.get_by_label("Or cron (UTC)").fill("0 2 * * *")
    page.get_by_role("button", name="Save schedule").click()
    expect(schedules).to_have_count(1)
    expect(schedules.first).to_contain_text("cron 0 2 * * *")
    expect(schedules.first).to_contain_text("02:00:00 UTC")
    assert_well_formed(page)

    schedules.first.get_by_role("button", name="Remove schedule of customers").click()
    expect(page.get_by_text("No scheduled runs.")).to_be_visible()
