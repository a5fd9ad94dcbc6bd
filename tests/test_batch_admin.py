"""/admin/runs: start a run, watch its progress, cancel it, resolve the review list."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from gateway.extensions import db
from gateway.models import BatchRun, BatchSchedule, ReviewItem, ReviewStatus, RunStatus
from tests.support.batch import batch_worker, sync_run
from tests.support.scenario import connect


@pytest.fixture
def gw(app, runner, fakes):
    scenario = connect(app, runner, fakes)
    scenario.platforms.settings("qbo", webhooks_enabled=False)
    return scenario


def test_a_run_started_from_the_page_runs_in_the_worker_and_shows_its_counts(gw, admin_client):
    for n in range(3):
        gw.customer(DisplayName=f"C{n}")
    page = admin_client.get("/admin/runs")
    assert page.status_code == 200 and "Start run" in page.text and "No batch runs yet" in page.text
    answer = admin_client.post("/admin/runs", data={"mapping": "customers", "company": gw.realm})
    assert answer.status_code == 303
    [run] = db.session.execute(select(BatchRun)).scalars()
    assert run.trigger == "admin" and run.status == RunStatus.QUEUED
    polling = admin_client.get("/admin/runs", headers={"HX-Request": "true"}).text
    assert 'hx-trigger="every 2s"' in polling  # unfinished: the table keeps itself fresh
    batch_worker()
    db.session.refresh(run)
    assert run.status == RunStatus.DONE, run.error
    table = admin_client.get("/admin/runs/progress", headers={"HX-Request": "true"}).text
    assert "<html" not in table and 'id="runs-table"' in table
    assert "created 3" in table and ">done<" in table
    assert 'max="3" value="3"' in table
    assert "every 2s" not in table  # finished: no more polling
    assert len(gw.accounts()) == 3


HTMX = {"HX-Request": "true"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def shown_in(page: str, section: str) -> str:
    """The error notice of the page's `section` (a card's id), unescaped; '' if it has none."""
    card = page[page.index(f'id="{section}"') :]
    card = card[: card.index("</section>")]
    if 'role="alert"' not in card:
        return ""
    notice = card[card.index('role="alert">') + len('role="alert">') :]
    return html.unescape(notice[: notice.index("</p>")])


def test_bad_input_is_a_clear_error(gw, admin_client, runner):
    cli = runner.invoke(args=["sync", "run", "nope"])
    assert cli.exit_code != 0
    said = cli.output.strip().removeprefix("Error: ")
    assert said.startswith("no mapping named 'nope'"), cli.output

    # htmx (and a script asking for JSON) gets the error as JSON: admin.js shows its message
    for headers in (HTMX, {"Accept": "application/json"}):
        answer = admin_client.post("/admin/runs", data={"mapping": "nope"}, headers=headers)
        assert answer.status_code == 400
        assert answer.json == {"error": "cannot_start", "message": said}
    answer = admin_client.post("/admin/runs", data={}, headers=HTMX)
    assert answer.json["error"] == "missing_mapping"
    assert admin_client.post("/admin/runs/99/cancel").status_code == 404

    # a plain form post (no JavaScript) gets the page back, the error by the form it sent
    page = admin_client.post("/admin/runs", data={"mapping": "nope"}, headers=BROWSER)
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "<html" in page.text and "Start run" in page.text
    assert shown_in(page.text, "start-heading") == said  # in the CLI's words
    assert shown_in(page.text, "schedules") == ""
    page = admin_client.post("/admin/runs", data={"mapping": " "}, headers=BROWSER)
    assert page.status_code == 400
    assert shown_in(page.text, "start-heading") == "Pick the mapping to run."
    assert db.session.execute(select(BatchRun)).first() is None
    assert shown_in(admin_client.get("/admin/runs").text, "start-heading") == ""


def test_a_run_cancelled_from_the_page_stops(gw, admin_client):
    gw.customer(DisplayName="C")
    admin_client.post("/admin/runs", data={"mapping": "customers"})
    [run] = db.session.execute(select(BatchRun)).scalars()
    page = admin_client.get("/admin/runs").text
    assert f"Cancel run {run.id}" in page
    assert admin_client.post(f"/admin/runs/{run.id}/cancel").status_code == 303
    batch_worker()  # its queued job finds it cancelled
    db.session.refresh(run)
    assert run.status == RunStatus.CANCELLED
    assert gw.accounts() == []


def test_the_review_list_is_resolved_from_the_page(gw, runner, admin_client):
    twins = [
        gw.platforms.sf_create("Account", {"Name": f"Acme {n}", "Email__c": "ap@acme.test"})
        for n in (1, 2)
    ]
    acme = gw.customer(DisplayName="Acme", PrimaryEmailAddr={"Address": "ap@acme.test"})
    assert sync_run(runner, "customers")["review"] == 1
    [item] = db.session.execute(select(ReviewItem)).scalars()
    page = admin_client.get("/admin/runs").text
    assert f"Customer {acme['Id']}" in page
    for twin in twins:
        assert f'value="{twin["Id"]}"' in page
    assert "Create new" in page

    wrong = admin_client.post(
        f"/admin/runs/review/{item.id}", data={"decision": "001XXX"}, headers=HTMX
    )
    assert wrong.status_code == 400 and wrong.json["error"] == "bad_decision"
    page = admin_client.post(f"/admin/runs/review/{item.id}", data={}, headers=BROWSER)
    assert page.status_code == 400
    assert shown_in(page.text, "review-list") == "Pick the matching record, or create a new one."
    chosen = admin_client.post(f"/admin/runs/review/{item.id}", data={"decision": twins[0]["Id"]})
    assert chosen.status_code == 303
    batch_worker()
    db.session.refresh(item)
    assert item.status == ReviewStatus.RESOLVED
    assert gw.account(acme["Id"])["Id"] == twins[0]["Id"]
    assert len(gw.accounts()) == 2
    assert "Nothing waits for review" in admin_client.get("/admin/runs").text


def test_schedules_are_edited_on_the_page(gw, admin_client):
    assert "No scheduled runs" in admin_client.get("/admin/runs").text
    form = {"mapping": "customers", "direction": "quickbooks_to_salesforce"}  # as the page sends
    bad = admin_client.post("/admin/runs/schedules", data={**form, "every": "x"}, headers=HTMX)
    assert bad.status_code == 400 and bad.json["error"] == "bad_interval"
    bad = admin_client.post("/admin/runs/schedules", data={**form, "cron": "?"}, headers=HTMX)
    assert bad.status_code == 400 and "not a cron expression" in bad.json["message"]
    page = admin_client.post("/admin/runs/schedules", data={**form, "cron": "?"}, headers=BROWSER)
    assert page.status_code == 400
    assert "'?' is not a cron expression" in shown_in(page.text, "schedules")
    assert shown_in(page.text, "start-heading") == ""
    saved = admin_client.post("/admin/runs/schedules", data={**form, "cron": "0 2 * * *"})
    assert saved.status_code == 303
    page = admin_client.get("/admin/runs").text
    assert "cron <code>0 2 * * *</code>" in page and "02:00:00 UTC" in page
    assert "customers (QuickBooks → Salesforce)" in page
    [schedule] = db.session.execute(select(BatchSchedule)).scalars()
    assert schedule.direction == "quickbooks_to_salesforce"
    assert admin_client.post(f"/admin/runs/schedules/{schedule.id}/remove").status_code == 303
    assert "No scheduled runs" in admin_client.get("/admin/runs").text
