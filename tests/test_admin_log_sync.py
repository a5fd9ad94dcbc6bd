"""The sync log on real syncs: a failing write explained from the API's own answer, fixed and
retried; retry-all and replay as background jobs on the real RQ worker."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import bulk_actions, event_log
from gateway.extensions import db
from gateway.models import EventAttempt, EventStatus
from tests.support.drain import run_worker
from tests.support.events import NAME_FROM_COMPANY_NAME, changed_rows, fix_the_mapping
from tests.support.scenario import connect


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes, mappings=NAME_FROM_COMPANY_NAME)


def test_a_failed_write_is_explained_fixed_and_retried_from_the_log(
    gw, admin_client, runner, tmp_path
):
    customer = gw.customer(DisplayName="Acme Ltd", BillAddr={"City": "Leeds"})
    gw.settle()
    [event] = gw.events()
    assert event.status == EventStatus.FAILED
    assert event.failure_cause == "REQUIRED_FIELD_MISSING on Account.Name"

    found = admin_client.get(f"/admin/log?q={customer['Id']}").text
    assert f"/admin/log/{event.id}" in found
    groups = admin_client.get("/admin/log?status=failed").text
    assert "1 event</strong>: REQUIRED_FIELD_MISSING on Account.Name" in groups

    detail = admin_client.get(f"/admin/log/{event.id}").text
    assert "REQUIRED_FIELD_MISSING" in detail
    assert "Required fields are missing: [Name]" in detail  # the API's own message
    assert "Acme Ltd" in detail  # the source record as read
    assert "Leeds" in detail  # in the payload written too

    fix_the_mapping(runner, tmp_path)
    response = admin_client.post(f"/admin/log/{event.id}/retry")
    assert response.status_code == 303
    gw.settle()
    [event] = gw.events()
    assert event.status == EventStatus.SYNCED
    account = gw.account(customer["Id"])
    assert account["Name"] == "Acme Ltd"

    detail = admin_client.get(f"/admin/log/{event.id}").text
    attempts = (
        db.session.execute(
            select(EventAttempt).where(EventAttempt.event_id == event.id).order_by(EventAttempt.id)
        )
        .scalars()
        .all()
    )
    assert [a.outcome for a in attempts] == [EventStatus.FAILED, EventStatus.SYNCED]
    assert attempts[1].target_id == account["Id"]
    assert f"in Salesforce ({account['Id']})" in detail


def test_the_diff_shows_what_an_update_changed_on_the_target(gw, admin_client):
    gw.platforms.settings("sf")  # no faults
    customer = gw.customer(DisplayName="Acme", CompanyName="Acme", BillAddr={"City": "Leeds"})
    gw.settle()
    gw.customer(Id=customer["Id"], BillAddr={"City": "York"})
    gw.settle()
    first, second = gw.events()
    assert (first.status, second.status) == (EventStatus.SYNCED, EventStatus.SYNCED)
    detail = admin_client.get(f"/admin/log/{second.id}").text
    changed = changed_rows(detail)
    assert len(changed) == 1 and "BillingCity" in changed[0]
    assert "Leeds" in changed[0] and "York" in changed[0]
    assert f"/admin/log/{first.id}" in detail  # the other event of the same record


def test_a_quickbooks_error_keeps_its_code_and_intuit_tid(gw, admin_client):
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/query", "status": 400, "times": 1, "body": "fault"}]
    )
    gw.customer(DisplayName="Acme", CompanyName="Acme")
    gw.settle()
    [event] = gw.events()
    assert event.status == EventStatus.FAILED
    [attempt] = event_log.attempts(event)
    assert attempt.intuit_tid and attempt.error_code
    detail = admin_client.get(f"/admin/log/{event.id}").text
    assert attempt.intuit_tid in detail


def test_retry_all_asks_with_the_count_then_runs_as_a_job(gw, admin_client, runner, tmp_path):
    for name in ("A", "B", "C"):
        gw.customer(DisplayName=f"Customer {name}")
    gw.settle()
    assert {e.status for e in gw.events()} == {EventStatus.FAILED}

    confirm = admin_client.get("/admin/log/retry-all?status=failed&object=Customer").text
    assert "3 failed events" in confirm and "Retry 3 events" in confirm
    fix_the_mapping(runner, tmp_path)
    response = admin_client.post("/admin/log/retry-all?status=failed&object=Customer")
    assert response.status_code == 303
    action_id = response.location.rsplit("/", 1)[1]
    assert bulk_actions.progress(action_id)["state"] == "queued"
    gw.settle()
    state = bulk_actions.progress(action_id)
    assert (state["state"], state["done"], state["total"]) == ("finished", 3, 3)
    assert {e.status for e in gw.events()} == {EventStatus.SYNCED}
    page = admin_client.get(f"/admin/log/actions/{action_id}").text
    assert "3 of 3" in page and "finished" in page


def test_a_cancelled_retry_all_touches_nothing(gw, admin_client):
    gw.customer(DisplayName="Customer A")
    gw.settle()
    response = admin_client.post("/admin/log/retry-all?status=failed")
    action_id = response.location.rsplit("/", 1)[1]
    cancelled = admin_client.post(f"/admin/log/actions/{action_id}/cancel")
    assert cancelled.status_code == 303
    run_worker()
    assert bulk_actions.progress(action_id)["state"] == "cancelled"
    assert [e.status for e in gw.events()] == [EventStatus.FAILED]
    assert admin_client.get("/admin/log/actions/nosuchaction").status_code == 404


def test_replay_since_rewrites_what_a_wrong_mapping_wrote(gw, admin_client, runner, tmp_path):
    # For a while Account.Name came from the wrong field; every write succeeded.
    first = gw.customer(DisplayName="First Ltd", CompanyName="Holding Co")
    second = gw.customer(DisplayName="Second Ltd", CompanyName="Holding Co")
    gw.settle()
    assert {gw.account(c["Id"])["Name"] for c in (first, second)} == {"Holding Co"}

    fix_the_mapping(runner, tmp_path)
    response = admin_client.post("/admin/log/replay", data={"mapping": "customers", "since": "1h"})
    assert response.status_code == 303
    gw.settle()
    action_id = response.location.rsplit("/", 1)[1]
    assert bulk_actions.progress(action_id)["state"] == "finished"
    assert gw.account(first["Id"])["Name"] == "First Ltd"
    assert gw.account(second["Id"])["Name"] == "Second Ltd"
    replayed = [e for e in gw.events() if e.dedupe_key.startswith("resync:")]
    assert sorted(e.record_id for e in replayed) == sorted([first["Id"], second["Id"]])
