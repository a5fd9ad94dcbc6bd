"""/admin/runs: start a run, watch its progress, cancel it, resolve the review list."""

from __future__ import annotations

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


def test_bad_input_is_a_clear_error(gw, admin_client):
    answer = admin_client.post("/admin/runs", data={"mapping": "nope"})
    assert answer.status_code == 400
    assert (
        answer.json["error"] == "cannot_start"
        and "no mapping named 'nope'" in answer.json["message"]
    )
    assert admin_client.post("/admin/runs", data={}).json["error"] == "missing_mapping"
    assert admin_client.post("/admin/runs/99/cancel").status_code == 404


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

    wrong = admin_client.post(f"/admin/runs/review/{item.id}", data={"decision": "001XXX"})
    assert wrong.status_code == 400 and wrong.json["error"] == "bad_decision"
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
    bad = admin_client.post("/admin/runs/schedules", data={"mapping": "customers", "every": "x"})
    assert bad.status_code == 400 and bad.json["error"] == "bad_interval"
    bad = admin_client.post("/admin/runs/schedules", data={"mapping": "customers", "cron": "?"})
    assert bad.status_code == 400 and "not a cron expression" in bad.json["message"]
    saved = admin_client.post(
        "/admin/runs/schedules", data={"mapping": "customers", "cron": "0 2 * * *"}
    )
    assert saved.status_code == 303
    page = admin_client.get("/admin/runs").text
    assert "cron <code>0 2 * * *</code>" in page and "02:00:00 UTC" in page
    [schedule] = db.session.execute(select(BatchSchedule)).scalars()
    assert admin_client.post(f"/admin/runs/schedules/{schedule.id}/remove").status_code == 303
    assert "No scheduled runs" in admin_client.get("/admin/runs").text
