"""The reconciler through the emulators: changes whose webhooks were dropped are found with
CDC and synced once; the watermark moves only after the work is stored; one at a time."""

from __future__ import annotations

import json
import time
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from gateway import queue
from gateway.batch import reconcile
from gateway.extensions import db
from gateway.models import BatchRun, EventStatus, Watermark, utcnow
from tests.support.batch import batch_worker, sync_run
from tests.support.scenario import INVOICES_YAML, connect, customer_invoice


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


def qbo_side(found: dict | None) -> dict:
    """The QuickBooks side of the reconciler's counts (tests/test_reconcile_salesforce.py
    covers the other)."""
    assert found is not None
    return {realm: sides["quickbooks"] for realm, sides in found.items()}


def reconcile_cli(runner, *args: str) -> dict:
    result = runner.invoke(args=["sync", "reconcile", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_changes_with_dropped_webhooks_are_caught_up_once(gw, runner):
    kept = gw.customer(DisplayName="Kept", PrimaryEmailAddr={"Address": "k@x.test"})
    edited = gw.customer(DisplayName="Edited")
    closed = gw.customer(DisplayName="Closed")
    gw.settle()
    assert len(gw.accounts()) == 3

    gw.platforms.settings("qbo", webhooks_enabled=False)  # the gateway hears nothing now
    created = gw.customer(DisplayName="Created while down")
    gw.customer(Id=edited["Id"], DisplayName="Edited while down")
    gw.customer(Id=closed["Id"], Active=False)
    gw.settle()
    assert len(gw.events()) == 3  # nothing new arrived
    gw.platforms.clear_calls()

    found = reconcile_cli(runner, "--company", gw.realm)
    # every customer changed since the company was connected, each once in its latest state
    assert qbo_side(found) == {gw.realm: {"Customer": 4}}
    # the accounts changed in Salesforce since then are the gateway's own writes: not stored
    assert found[gw.realm]["salesforce"] == {"Account": 0}
    gw.settle()
    assert gw.account(created["Id"])["Name"] == "Created while down"
    assert gw.account(edited["Id"])["Name"] == "Edited while down"
    assert gw.account(closed["Id"])["QBO_Deleted__c"] is True  # per the flag policy
    assert gw.account(kept["Id"])["Name"] == "Kept"
    assert len(gw.accounts()) == 4
    # one CDC call, one query for the three records, and one write per change
    reads = gw.platforms.calls("qbo", "read")
    assert len(reads) <= 3, reads
    assert len(gw.platforms.calls("sf", "write")) <= 3

    # Again: the overlap sees the same changes, the inbox drops them, nothing is written.
    gw.platforms.clear_calls()
    assert qbo_side(reconcile_cli(runner)) == {gw.realm: {"Customer": 0}}
    gw.settle()
    assert gw.platforms.calls("sf", "write") == []


def test_changes_a_webhook_brought_across_are_not_written_again(gw, runner):
    customer = gw.customer(DisplayName="Announced")
    gw.settle()
    gw.platforms.clear_calls()
    assert qbo_side(reconcile_cli(runner)) == {gw.realm: {"Customer": 1}}
    gw.settle()
    assert gw.platforms.calls("sf", "write") == []
    assert [e.reason for e in gw.events()][-1] == "unchanged"
    assert gw.account(customer["Id"])["Name"] == "Announced"


def test_the_watermark_moves_only_after_the_changes_are_stored(gw, runner):
    gw.platforms.settings("qbo", webhooks_enabled=False)
    gw.customer(DisplayName="Missed")
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/cdc", "status": 400, "times": 1, "body": "fault"}]
    )
    result = runner.invoke(args=["sync", "reconcile"])
    assert result.exit_code != 0 and "QuickBooks 400" in result.output
    db.session.rollback()
    assert db.session.execute(select(Watermark)).first() is None
    assert gw.events() == []

    assert qbo_side(reconcile_cli(runner)) == {gw.realm: {"Customer": 1}}
    marks = db.session.execute(select(Watermark).order_by(Watermark.source)).scalars()
    assert [(mark.source, mark.object_name) for mark in marks] == [
        ("qbo", "Customer"),
        ("sf", "Account"),
    ]
    gw.settle()
    assert [e.status for e in gw.events()] == [EventStatus.SYNCED]


def test_one_reconciler_at_a_time(gw):
    with queue.backend().lock(reconcile.RECONCILE_LOCK, timeout=5, wait=0):
        assert reconcile.run_exclusively() is None
    assert qbo_side(reconcile.run_exclusively()) == {gw.realm: {"Customer": 0}}


def test_an_unknown_company_is_a_clear_error(gw, runner):
    result = runner.invoke(args=["sync", "reconcile", "--company", "404"])
    assert result.exit_code != 0 and "no connected company 404" in result.output


def test_embedded_mode_reconciles_on_sqlite(app, make_app, fakes, tmp_path):
    """SQLite hands back naive datetimes: the watermark arithmetic must still work."""
    from flask_migrate import upgrade

    embedded = make_app(f"sqlite:///{tmp_path / 'gateway.sqlite3'}", None)
    with embedded.app_context():
        upgrade()
        gw = connect(embedded, embedded.test_cli_runner(), fakes)
        gw.platforms.settings("qbo", webhooks_enabled=False)
        gw.customer(DisplayName="Missed")
        assert qbo_side(reconcile.reconcile_all()) == {gw.realm: {"Customer": 1}}
        # a second round starts from the stored (naive) watermark
        assert qbo_side(reconcile.reconcile_all()) == {gw.realm: {"Customer": 0}}
        db.session.remove()


def customer_watermark(gw) -> Watermark | None:
    db.session.expire_all()
    return db.session.execute(
        select(Watermark).where(Watermark.source == "qbo", Watermark.object_name == "Customer")
    ).scalar_one_or_none()


def test_a_backfill_leaves_the_watermark_and_what_it_wrote_is_not_written_again(gw, runner, app):
    app.config["RECONCILE_OVERLAP_SECONDS"] = 0
    gw.platforms.settings("qbo", webhooks_enabled=False)
    for n in range(3):
        gw.customer(DisplayName=f"Old {n}")
    time.sleep(1.1)  # CDC's changedSince has whole seconds
    assert sync_run(runner, "customers")["created"] == 3
    # A query sees live records only: a delete before the run is left to CDC, from where the
    # reconciler was (the company's connection), not from the run's start.
    assert customer_watermark(gw) is None or customer_watermark(gw).caught_up_to < (
        gw.company().created_at.replace(tzinfo=UTC) + timedelta(seconds=1)
    )
    gw.platforms.clear_calls()
    assert qbo_side(reconcile_cli(runner)) == {gw.realm: {"Customer": 3}}
    gw.settle()
    assert gw.platforms.calls("sf", "write") == []  # unchanged: nothing written again
    assert {e.status for e in gw.events()} == {EventStatus.SKIPPED}


def test_a_backfill_of_a_company_connected_long_ago_brings_the_watermark_into_cdc_reach(gw, runner):
    company = gw.company()
    company.created_at = utcnow() - timedelta(days=45)
    db.session.commit()
    started = utcnow()
    sync_run(runner, "customers")
    mark = customer_watermark(gw)
    # before it, CDC cannot answer anyway; the run read everything from there on
    assert mark.caught_up_to.replace(tzinfo=UTC) >= started - timedelta(seconds=1)


def test_an_invoice_deleted_while_the_gateway_was_down_is_deleted_per_policy(app, runner, fakes):
    gw = connect(app, runner, fakes, INVOICES_YAML)  # invoices: real time, on_delete: delete
    invoice = customer_invoice(gw)
    gw.settle()
    assert len(gw.platforms.sf_records("Opportunity")) == 1

    gw.platforms.settings("qbo", webhooks_enabled=False)
    gw.platforms.qbo_action(gw.realm, "Invoice", invoice["Id"], "delete")
    found = reconcile_cli(runner)
    # customers are not real time: not reconciled
    assert qbo_side(found) == {gw.realm: {"Invoice": 1}}
    gw.settle()
    assert gw.platforms.sf_records("Opportunity") == []
    [deleted] = gw.events(operation="delete")
    assert deleted.status == EventStatus.SYNCED and deleted.record_id == invoice["Id"]


def test_an_invoice_deleted_before_a_backfill_is_still_deleted_by_the_reconciler(
    app, runner, fakes
):
    gw = connect(app, runner, fakes, INVOICES_YAML)
    invoice = customer_invoice(gw)
    gw.settle()
    gw.platforms.settings("qbo", webhooks_enabled=False)
    gw.platforms.qbo_action(gw.realm, "Invoice", invoice["Id"], "delete")
    app.config["RECONCILE_OVERLAP_SECONDS"] = 0  # the overlap would hide a watermark moved too far
    time.sleep(1.1)  # CDC's changedSince has whole seconds
    # a first sync now reads the live invoices only: it cannot see the delete
    assert sync_run(runner, "invoices")["failed"] == 0
    assert len(gw.platforms.sf_records("Opportunity")) == 1
    assert qbo_side(reconcile_cli(runner)) == {gw.realm: {"Invoice": 1}}
    gw.settle()
    assert gw.platforms.sf_records("Opportunity") == []


def test_more_changes_in_one_second_than_cdc_answers_go_to_a_batch_run(gw, runner, app):
    app.config["BATCH_PAGE_SIZE"] = 1000
    gw.platforms.settings("qbo", webhooks_enabled=False)
    # An import: 2,100 customers in one request, so one second holds over 1,000 changes.
    records = [{"DisplayName": f"Imported {n}"} for n in range(2100)]
    gw.platforms.qbo("POST", f"/_fake/companies/{gw.realm}/Customer", json=records)
    found = qbo_side(reconcile_cli(runner))[gw.realm]["Customer"]
    assert 1000 <= found < 2100  # what CDC could answer; the rest is the batch run's
    [run] = db.session.execute(select(BatchRun)).scalars()
    assert (run.trigger, run.direction, run.since is not None) == (
        "reconcile",
        "quickbooks_to_salesforce",
        True,
    )
    batch_worker()
    gw.settle()
    names = [a["Name"] for a in gw.accounts()]
    assert len(names) == len(set(names)) == 2100  # every one, none twice
    # the next round's overlap asks that second again: nothing new, and no second run
    assert qbo_side(reconcile_cli(runner))[gw.realm]["Customer"] == 0
    assert db.session.execute(select(func.count(BatchRun.id))).scalar() == 1
