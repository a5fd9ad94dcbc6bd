"""Batch runs (flask sync run) through the emulators: first sync without duplicates, review
list, parents first, dry run, cancel, resume after a kill, and real time during a backfill."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway import queue
from gateway.batch import runs
from gateway.extensions import db
from gateway.models import (
    CREATE_NEW,
    BatchRun,
    EventStatus,
    RecordLink,
    ReviewItem,
    ReviewStatus,
    RunStatus,
)
from tests.conftest import gateway_settings
from tests.support.batch import batch_scenario, batch_worker, sync_run
from tests.support.processes import Process, environment
from tests.support.scenario import connect

INVOICES_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: false
    external_id: QBO_Id__c
    match: [{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}]
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    realtime: false
    fields:
      - {quickbooks: DocNumber, salesforce: Name, required: true}
      - {quickbooks: TxnDate, salesforce: CloseDate, type: date}
      - {quickbooks: TotalAmt, salesforce: Amount}
      - {salesforce: StageName, default: Closed Won}
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
"""


@pytest.fixture
def gw(app, runner, fakes):
    return batch_scenario(app, runner, fakes)


def by_email(gw, email: str) -> list[dict]:
    return [a for a in gw.accounts() if a.get("Email__c") == email]


def test_first_sync_links_existing_accounts_and_creates_the_rest_once(gw, runner):
    existing = gw.platforms.sf_create("Account", {"Name": "Acme (SF)", "Email__c": "ap@acme.test"})
    acme = gw.customer(DisplayName="Acme", PrimaryEmailAddr={"Address": "ap@acme.test"})
    for n in range(4):
        gw.customer(DisplayName=f"New {n}", PrimaryEmailAddr={"Address": f"n{n}@x.test"})
    gw.customer(DisplayName="Gone", Active=False)  # never synced: nothing to apply

    first = sync_run(runner, "customers")
    assert first["mapping"] == "customers" and first["company"] == gw.realm
    assert first["direction"] == "quickbooks_to_salesforce" and first["dry_run"] is False
    assert (first["created"], first["linked"], first["updated"]) == (4, 1, 0)
    assert (first["unchanged"], first["review"], first["failed"]) == (1, 0, 0)
    assert isinstance(first["seconds"], float)
    assert gw.account(acme["Id"])["Id"] == existing["Id"]  # adopted, not duplicated
    assert len(gw.accounts()) == 5
    # pages of 2: a count and ceil(6 / 2) + (a last short or empty page) queries
    queries = [c for c in gw.platforms.calls("qbo", "read")]
    assert len(queries) <= 1 + 4, queries

    gw.platforms.clear_calls()
    again = sync_run(runner, "customers")
    assert (again["created"], again["linked"], again["unchanged"]) == (0, 0, 6)
    assert gw.platforms.calls("sf", "write") == []
    assert len(gw.accounts()) == 5


def test_a_full_page_matches_and_writes_in_composite_calls_without_duplicates(app, gw, runner):
    """A page of 450: its matching queries (over the URI limit together) and its 3 upsert
    collections each go in one /composite call; existing records are still linked, once."""
    app.config["BATCH_PAGE_SIZE"] = 1000
    domain = "a-rather-long-domain-name-for-the-uri-limit.example.test"
    customers = gw.platforms.qbo_save(
        gw.realm,
        "Customer",
        [
            {"DisplayName": f"Bulk {n}", "PrimaryEmailAddr": {"Address": f"bulk.{n}@{domain}"}}
            for n in range(450)
        ],
    )
    by_n = {n: customer["Id"] for n, customer in enumerate(customers)}
    handmade = {
        n: gw.platforms.sf_create(
            "Account", {"Name": f"Made by hand {n}", "Email__c": f"bulk.{n}@{domain}"}
        )["Id"]
        for n in (10, 200, 449)
    }
    # Customer 300 was written before a crash lost its link (its email changed since); a
    # person's record with its current email must not be adopted on top of ours.
    ours = gw.platforms.sf_create(
        "Account", {"Name": "Bulk 300", "QBO_Id__c": f"{gw.realm}-{by_n[300]}"}
    )["Id"]
    gw.platforms.sf_create("Account", {"Name": "Lookalike", "Email__c": f"bulk.300@{domain}"})
    gw.platforms.clear_calls()

    summary = sync_run(runner, "customers")
    assert (summary["created"], summary["linked"], summary["updated"]) == (446, 3, 1)
    assert (summary["review"], summary["failed"]) == (0, 0)
    for n, sf_id in handmade.items():
        assert gw.account(by_n[n])["Id"] == sf_id
    assert gw.account(by_n[300])["Id"] == ours
    assert len(gw.accounts()) == 5 + 446
    emails = [a.get("Email__c") for a in gw.accounts() if a.get("Email__c")]
    assert len(emails) - len(set(emails)) == 1  # only the lookalike shares one
    calls = [
        (c["method"], c["path"].split("/v59.0/")[-1])
        for c in gw.platforms.calls("sf")
        if c["kind"] != "auth" and not c["path"].endswith("/describe")
    ]
    # matching: one composite; the 447 upserts: one composite; the 3 adoptions: one PATCH
    assert sorted(calls) == [
        ("PATCH", "composite/sobjects"),
        ("POST", "composite"),
        ("POST", "composite"),
    ]

    gw.platforms.clear_calls()
    again = sync_run(runner, "customers")
    assert (again["unchanged"], again["created"], again["linked"]) == (450, 0, 0)
    assert gw.platforms.calls("sf", "write") == []


def test_ambiguous_matches_go_to_review_and_the_pick_is_adopted(gw, runner):
    twins = [
        gw.platforms.sf_create("Account", {"Name": f"Acme {n}", "Email__c": "ap@acme.test"})
        for n in (1, 2)
    ]
    acme = gw.customer(DisplayName="Acme", PrimaryEmailAddr={"Address": "ap@acme.test"})
    other = gw.customer(DisplayName="Other", PrimaryEmailAddr={"Address": "o@x.test"})
    summary = sync_run(runner, "customers")
    assert (summary["review"], summary["created"]) == (1, 1)
    [item] = db.session.execute(select(ReviewItem)).scalars()
    assert item.quickbooks_id == acme["Id"] and item.status == ReviewStatus.OPEN
    assert sorted(item.candidates) == sorted(t["Id"] for t in twins)
    assert len(gw.accounts()) == 3  # nothing created for the ambiguous one

    # Another run leaves it for review again, never creating a duplicate.
    assert sync_run(runner, "customers")["review"] == 1
    assert len(gw.accounts()) == 3

    from gateway.batch import review

    review.resolve(item, twins[1]["Id"])
    db.session.commit()
    queue.backend().enqueue("gateway.jobs.apply_review", item.id)
    batch_worker()
    assert gw.account(acme["Id"])["Id"] == twins[1]["Id"]
    assert gw.account(other["Id"])["Name"] == "Other"
    assert len(gw.accounts()) == 3
    # And a later run counts it unchanged: the decision holds.
    assert sync_run(runner, "customers")["review"] == 0


def test_create_new_on_the_review_list_creates_one_record(gw, runner):
    for n in (1, 2):
        gw.platforms.sf_create("Account", {"Name": f"Acme {n}", "Email__c": "ap@acme.test"})
    acme = gw.customer(DisplayName="Acme", PrimaryEmailAddr={"Address": "ap@acme.test"})
    sync_run(runner, "customers")
    [item] = db.session.execute(select(ReviewItem)).scalars()
    from gateway.batch import review

    with pytest.raises(review.ReviewError):
        review.resolve(item, "001000000000000AAA")  # not a candidate
    review.resolve(item, CREATE_NEW)
    db.session.commit()
    queue.backend().enqueue("gateway.jobs.apply_review", item.id)
    batch_worker()
    assert gw.account(acme["Id"])["Name"] == "Acme"
    assert len(gw.accounts()) == 3


def test_invoices_bring_their_new_customers_first(app, runner, fakes):
    app.config["BATCH_PAGE_SIZE"] = 2
    gw = connect(app, runner, fakes, INVOICES_YAML)
    gw.platforms.settings("qbo", webhooks_enabled=False)
    customers = [gw.customer(DisplayName=f"Buyer {n}") for n in range(3)]
    item = gw.platforms.qbo_save(gw.realm, "Item", {"Name": "Widget", "Type": "Service"})
    for n, customer in enumerate(customers):
        gw.platforms.qbo_save(
            gw.realm,
            "Invoice",
            {
                "DocNumber": f"INV-{n}",
                "TxnDate": "2026-11-01",
                "CustomerRef": {"value": customer["Id"]},
                "Line": [
                    {
                        "Amount": 10,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}},
                    }
                ],
            },
        )
    summary = sync_run(runner, "invoices")
    assert (summary["created"], summary["failed"]) == (3, 0), summary
    accounts = {a["Name"]: a["Id"] for a in gw.accounts()}
    assert sorted(accounts) == ["Buyer 0", "Buyer 1", "Buyer 2"]
    opportunities = {o["Name"]: o for o in gw.platforms.sf_records("Opportunity")}
    assert opportunities["INV-1"]["AccountId"] == accounts["Buyer 1"]


def test_dry_run_reports_and_writes_nothing(gw, runner):
    gw.platforms.sf_create("Account", {"Name": "Acme (SF)", "Email__c": "ap@acme.test"})
    for n in (1, 2):
        gw.platforms.sf_create("Account", {"Name": f"Twin {n}", "Email__c": "t@x.test"})
    gw.customer(DisplayName="Acme", PrimaryEmailAddr={"Address": "ap@acme.test"})
    gw.customer(DisplayName="Twin", PrimaryEmailAddr={"Address": "t@x.test"})
    gw.customer(DisplayName="New", PrimaryEmailAddr={"Address": "new@x.test"})
    gw.platforms.clear_calls()
    before = gw.accounts()

    result = runner.invoke(
        args=["sync", "run", "customers", "--dry-run", "--direction", "quickbooks_to_salesforce"]
    )
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 1 linked, 0 unchanged, 1 review, 0 failed" in result.output
    assert "created (would be)" in result.output  # a sample of each

    summary = sync_run(runner, "customers", "--dry-run")
    assert summary["dry_run"] is True
    assert (summary["created"], summary["linked"], summary["review"]) == (1, 1, 1)
    assert gw.platforms.calls("sf", "write") == []
    assert gw.platforms.calls("qbo", "write") == []
    assert gw.accounts() == before
    assert db.session.execute(select(RecordLink)).first() is None
    assert db.session.execute(select(ReviewItem)).first() is None


def test_a_cancelled_run_stops_and_the_cli_says_so(gw, runner):
    for n in range(3):
        gw.customer(DisplayName=f"C{n}")
    run = runs.create("customers", None, "quickbooks_to_salesforce", None, False, "admin")
    runs.cancel(run)
    db.session.commit()
    assert run.status == RunStatus.CANCELLED
    assert runs.execute(run.id).status == RunStatus.CANCELLED
    assert gw.accounts() == []


def test_bad_arguments_are_clear_errors(gw, runner):
    for args, message in (
        (["nope"], "no mapping named 'nope'"),
        (["customers", "--company", "999"], "no connected company 999"),
        (["customers", "--since", "yesterday"], "not an ISO 8601 date-time"),
    ):
        result = runner.invoke(args=["sync", "run", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)


def test_since_syncs_only_records_changed_after_it(gw, runner):
    gw.customer(DisplayName="Old")
    time.sleep(1.1)  # LastUpdatedTime has one-second precision
    cutoff = datetime.now(UTC).isoformat(timespec="seconds")
    time.sleep(1.1)
    gw.customer(DisplayName="Recent")
    summary = sync_run(runner, "customers", "--since", cutoff)
    assert summary["created"] == 1
    assert [a["Name"] for a in gw.accounts()] == ["Recent"]


def test_a_killed_run_resumes_from_its_checkpoint(
    gw, app, fakes, database_url, redis_url, tmp_path
):
    for n in range(8):
        gw.customer(DisplayName=f"C{n}", PrimaryEmailAddr={"Address": f"c{n}@x.test"})
    gw.platforms.settings("sf", latency_ms=400)  # slow enough to kill it between pages
    env = environment(
        gateway_settings(fakes, database_url, redis_url),
        FLASK_APP="wsgi",
        BATCH_PAGE_SIZE="2",
        REQUESTS_CA_BUNDLE=fakes.ca_bundle,
    )
    command = ["sync", "run", "customers", "--direction", "quickbooks_to_salesforce"]
    cli = Process([".venv/bin/flask", *command], env, tmp_path / "cli.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            db.session.rollback()
            run = db.session.execute(select(BatchRun)).scalar_one_or_none()
            if run is not None and run.next_position > 3:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(cli.output())
        cli.signal(signal.SIGKILL)
        cli.wait(10)
    finally:
        cli.stop()
    db.session.rollback()
    run = db.session.get(BatchRun, run.id)
    assert run.status == RunStatus.RUNNING
    checkpoint, done_before = run.next_position, sum(run.counts.values())
    assert done_before == checkpoint - 1 < 8
    gw.platforms.settings("sf", latency_ms=0)
    gw.platforms.clear_calls()

    # the killed process's lock lapses (no heartbeat) and the run looks stalled
    time.sleep(app.config["SYNC_LOCK_SECONDS"] + 0.2)
    assert runs.resume_stalled() == [run.id]
    batch_worker()
    db.session.rollback()
    run = db.session.get(BatchRun, run.id)
    assert run.status == RunStatus.DONE, run.error
    assert sum(run.counts.values()) == 8
    assert len(gw.accounts()) == 8  # a page written before the kill is never written twice
    # only the pages after the checkpoint are read again: full ones, then an empty last one
    pages = [c for c in gw.platforms.calls("qbo", "read") if c["path"].endswith("/query")]
    assert len(pages) == (8 - done_before) // 2 + 1, pages


def test_real_time_goes_ahead_of_a_backfill(gw, runner):
    for n in range(6):
        gw.customer(DisplayName=f"C{n}")
    live = gw.customer(DisplayName="Live")
    run = runs.create("customers", None, "quickbooks_to_salesforce", None, False, "admin")
    runs.enqueue(run.id)
    gw.platforms.settings("qbo", webhooks_enabled=True)
    gw.customer(Id=live["Id"], DisplayName="Live, edited")
    gw.platforms.wait_webhooks_delivered()
    batch_worker()
    db.session.rollback()
    run = db.session.get(BatchRun, run.id)
    assert run.status == RunStatus.DONE
    [event] = gw.events()
    assert event.status == EventStatus.SYNCED
    # the edit was synced before the run's first page, though the run was queued first
    assert event.updated_at < run.started_at
    assert gw.account(live["Id"])["Name"] == "Live, edited"
