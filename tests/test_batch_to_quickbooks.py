"""Batch runs from Salesforce to QuickBooks through the emulators: existing customers linked
(never duplicated), ambiguous matches on the review list resolved from the page, parents
first, the dry run, --since, a killed run resumed from its checkpoint, a schedule, and both
directions in one run."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.batch import runs, scheduled_runs
from gateway.extensions import db
from gateway.models import (
    CREATE_NEW,
    BatchRun,
    BatchSchedule,
    EventStatus,
    RecordLink,
    ReviewItem,
    ReviewStatus,
    RunStatus,
)
from tests.conftest import gateway_settings
from tests.support.batch import batch_scenario, batch_worker, sync_run
from tests.support.processes import Process, environment
from tests.support.salesforce_changes import send_callout
from tests.support.scenario import connect

TO_QBO = "salesforce_to_quickbooks"

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
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers, required: true}
      - {quickbooks: DocNumber, salesforce: Name, required: true}
      - {quickbooks: TxnDate, salesforce: CloseDate, required: true}
      - {quickbooks: TotalAmt, salesforce: Amount}
      - {salesforce: StageName, default: Closed Won}
    lines:
      salesforce: OpportunityLineItem
      parent_field: OpportunityId
      external_id: QBO_Id__c
      default_item: Services
      fields:
        - {quickbooks: SalesItemLineDetail.ItemRef.value, salesforce: Product2Id, required: true}
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: Quantity, default: 1}
"""


@pytest.fixture
def gw(app, runner, fakes):
    return batch_scenario(app, runner, fakes)


def to_qbo(runner, *args: str) -> dict:
    return sync_run(runner, *args, direction=TO_QBO)


def customers(gw) -> dict[str, dict]:
    return {c["Id"]: c for c in gw.platforms.qbo_records(gw.realm, "Customer")}


def account(gw, name: str, **fields) -> dict:
    return gw.platforms.sf_create("Account", {"Name": name, **fields})


def email(address: str) -> dict:
    return {"PrimaryEmailAddr": {"Address": address}}


def queries(gw) -> list[dict]:
    return [c for c in gw.platforms.calls("qbo", "read") if c["path"].endswith("/query")]


def test_first_sync_links_existing_customers_and_creates_the_rest_once(gw, runner):
    acme = gw.customer(DisplayName="Acme Inc", **email("ap@acme.test"))
    globex = gw.customer(DisplayName="Globex")
    by_email = account(gw, "Acme (Salesforce)", Email__c="AP@acme.test")
    by_name = account(gw, "Globex")
    new = [account(gw, f"New {n}", Email__c=f"n{n}@x.test") for n in range(3)]
    gw.platforms.clear_calls()

    first = to_qbo(runner, "customers")
    assert first["direction"] == TO_QBO and first["dry_run"] is False
    assert (first["created"], first["linked"], first["updated"]) == (3, 2, 0), first
    assert (first["unchanged"], first["review"], first["failed"]) == (0, 0, 0), first
    found = customers(gw)
    assert len(found) == 5  # two adopted, three new: none twice
    links = {link.salesforce_id: link.quickbooks_id for link in gw.links()}
    assert links[by_email["Id"]] == acme["Id"] and links[by_name["Id"]] == globex["Id"]
    assert found[acme["Id"]]["DisplayName"] == "Acme (Salesforce)"  # adopted: written
    accounts = {a["Id"]: a for a in gw.accounts()}
    assert accounts[by_email["Id"]]["QBO_Id__c"] == f"{gw.realm}-{acme['Id']}"
    assert {found[links[a["Id"]]]["DisplayName"] for a in new} == {"New 0", "New 1", "New 2"}
    # 3 pages of 2, each matched with one query per match field (email, name); the adopted
    # records are updated from what matching read (and the count is Salesforce's)
    assert len(queries(gw)) == 3 * 2, queries(gw)

    gw.platforms.clear_calls()
    again = to_qbo(runner, "customers")
    assert (again["created"], again["linked"], again["unchanged"]) == (0, 0, 5), again
    assert gw.platforms.calls("qbo", "write") == [] and gw.platforms.calls("sf", "write") == []
    assert len(customers(gw)) == 5


def test_ambiguous_matches_go_to_review_and_are_resolved_from_the_page(gw, runner, admin_client):
    twins = [gw.customer(DisplayName=f"Twin {n}", **email("t@x.test")) for n in (1, 2)]
    solo = gw.customer(DisplayName="Solo", **email("solo@x.test"))
    twin = account(gw, "Twin", Email__c="t@x.test")
    # matched by name and email, linked on the first page (its Id sorts first)
    first_solo = account(gw, "Solo", Email__c="solo@x.test")
    second_solo = account(gw, "Solo Ltd", Email__c="solo@x.test")  # the same customer again
    summary = to_qbo(runner, "customers")
    assert (summary["review"], summary["linked"], summary["created"]) == (2, 1, 0), summary
    items = {i.salesforce_id: i for i in db.session.execute(select(ReviewItem)).scalars()}
    assert sorted(items) == sorted([twin["Id"], second_solo["Id"]])
    assert sorted(items[twin["Id"]].candidates) == sorted(t["Id"] for t in twins)
    assert items[second_solo["Id"]].candidates == [solo["Id"]]
    assert first_solo["Id"] in items[second_solo["Id"]].reason
    assert all(i.quickbooks_id is None and i.status == ReviewStatus.OPEN for i in items.values())
    assert len(customers(gw)) == 3  # nothing created for either
    assert to_qbo(runner, "customers")["review"] == 2  # left for review again, never created

    page = admin_client.get("/admin/runs").text
    assert f"Account {twin['Id']}" in page and f"Resolve Account {second_solo['Id']}" in page
    for candidate in twins:
        assert f'value="{candidate["Id"]}"' in page
        assert f'Customer <span class="mono">{candidate["Id"]}</span>' in page
    wrong = admin_client.post(
        f"/admin/runs/review/{items[twin['Id']].id}",
        data={"decision": solo["Id"]},
        headers={"HX-Request": "true"},  # as the page sends it: the error comes back as JSON
    )
    assert wrong.status_code == 400 and wrong.json["error"] == "bad_decision"
    for item, decision in (
        (items[twin["Id"]], twins[1]["Id"]),
        (items[second_solo["Id"]], CREATE_NEW),
    ):
        answer = admin_client.post(f"/admin/runs/review/{item.id}", data={"decision": decision})
        assert answer.status_code == 303
    batch_worker()
    found = customers(gw)
    assert len(found) == 4  # the twin adopted its pick; "create new" made one customer
    assert found[twins[1]["Id"]]["DisplayName"] == "Twin"
    links = {link.salesforce_id: link.quickbooks_id for link in gw.links()}
    assert links[twin["Id"]] == twins[1]["Id"]
    assert found[links[second_solo["Id"]]]["DisplayName"] == "Solo Ltd"
    assert "Nothing waits for review" in admin_client.get("/admin/runs").text
    # the decisions hold: a later run finds everything in step
    later = to_qbo(runner, "customers")
    assert (later["review"], later["unchanged"], later["created"]) == (0, 3, 0), later


def test_real_time_honours_the_review_list(gw, runner):
    twins = [gw.customer(DisplayName=f"Twin {n}", **email("t@x.test")) for n in (1, 2)]
    twin = account(gw, "Twin", Email__c="t@x.test")
    assert to_qbo(runner, "customers")["review"] == 1
    [item] = db.session.execute(select(ReviewItem)).scalars()

    send_callout(gw.company(), "Account", [twin])  # an edit while it waits
    gw.settle()
    [event] = gw.events(source="salesforce")
    assert event.status == EventStatus.SKIPPED and "review list" in event.reason
    assert len(customers(gw)) == 2

    from gateway.batch import review

    review.resolve(item, twins[0]["Id"])
    db.session.commit()
    gw.platforms.sf("PATCH", f"/_fake/sobjects/Account/{twin['Id']}", json={"Phone": "1"})
    [edited] = [a for a in gw.accounts() if a["Id"] == twin["Id"]]
    send_callout(gw.company(), "Account", [edited])
    gw.settle()
    last = gw.events(source="salesforce")[-1]
    assert last.status == EventStatus.SYNCED, last.reason
    assert last.reason == f"linked and updated Customer {twins[0]['Id']}"
    assert len(customers(gw)) == 2


def test_opportunities_bring_their_new_accounts_first(app, runner, fakes):
    app.config["BATCH_PAGE_SIZE"] = 2
    gw = connect(app, runner, fakes, INVOICES_YAML)
    gw.platforms.settings("qbo", webhooks_enabled=False)
    gw.platforms.qbo_save(gw.realm, "Item", {"Name": "Services", "Type": "Service"})
    known = gw.customer(DisplayName="Known", **email("k@x.test"))
    buyers = [account(gw, f"Buyer {n}") for n in range(2)] + [account(gw, "K", Email__c="k@x.test")]
    for n, buyer in enumerate(buyers):
        gw.platforms.sf_create(
            "Opportunity",
            {
                "Name": f"INV-{n}",
                "AccountId": buyer["Id"],
                "CloseDate": "2026-11-01",
                "Amount": 10 * (n + 1),
                "StageName": "Closed Won",
            },
        )
    summary = to_qbo(runner, "invoices")
    assert (summary["created"], summary["failed"], summary["review"]) == (3, 0, 0), summary
    found = {c["DisplayName"]: c["Id"] for c in customers(gw).values()}
    assert sorted(found) == ["Buyer 0", "Buyer 1", "K"]  # "Known" adopted by email, renamed
    assert found["K"] == known["Id"]
    invoices = {i["DocNumber"]: i for i in gw.platforms.qbo_records(gw.realm, "Invoice")}
    assert invoices["INV-1"]["CustomerRef"]["value"] == found["Buyer 1"]
    assert invoices["INV-2"]["CustomerRef"]["value"] == known["Id"]
    assert invoices["INV-2"]["TotalAmt"] == 30


def test_dry_run_reports_and_writes_nothing(app, runner, fakes):
    gw = connect(app, runner, fakes, INVOICES_YAML)
    gw.platforms.settings("qbo", webhooks_enabled=False)
    gw.platforms.qbo_save(gw.realm, "Item", {"Name": "Services", "Type": "Service"})
    gw.customer(DisplayName="Acme", **email("ap@acme.test"))
    for n in (1, 2):
        gw.customer(DisplayName=f"Twin {n}", **email("t@x.test"))
    acme = account(gw, "Acme Ltd", Email__c="ap@acme.test")
    account(gw, "Twin", Email__c="t@x.test")
    new = account(gw, "New", Email__c="new@x.test")
    gw.platforms.sf_create(
        "Opportunity",
        {
            "Name": "INV-1",
            "AccountId": new["Id"],
            "CloseDate": "2026-11-01",
            "Amount": 5,
            "StageName": "Closed Won",
        },
    )
    gw.platforms.clear_calls()
    before = (customers(gw), gw.accounts())

    result = runner.invoke(args=["sync", "run", "customers", "--dry-run", "--direction", TO_QBO])
    assert result.exit_code == 0, result.output
    assert "1 created, 0 updated, 1 linked, 0 unchanged, 1 review, 0 failed" in result.output
    assert f"linked (would be): {acme['Id']}: would be linked (Customer" in result.output
    summary = to_qbo(runner, "customers", "--dry-run")
    assert summary["dry_run"] is True
    assert (summary["created"], summary["linked"], summary["review"]) == (1, 1, 1), summary
    # an opportunity whose account is new: the account would be created first
    invoices = to_qbo(runner, "invoices", "--dry-run")
    assert (invoices["created"], invoices["failed"]) == (1, 0), invoices

    assert gw.platforms.calls("qbo", "write") == []
    assert gw.platforms.calls("sf", "write") == []
    assert (customers(gw), gw.accounts()) == before
    assert db.session.execute(select(RecordLink)).first() is None
    assert db.session.execute(select(ReviewItem)).first() is None


def test_since_takes_only_what_changed(gw, runner):
    old = account(gw, "Old")
    time.sleep(1.1)
    cutoff = datetime.now(UTC).isoformat(timespec="seconds")
    time.sleep(1.1)
    recent = account(gw, "Recent")
    summary = to_qbo(runner, "customers", "--since", cutoff)
    assert (summary["created"], summary["unchanged"]) == (1, 0), summary
    assert [c["DisplayName"] for c in customers(gw).values()] == ["Recent"]
    [run] = db.session.execute(select(BatchRun)).scalars()
    assert run.total == 1 and run.checkpoint == recent["Id"] and old["Id"] < recent["Id"]


def test_a_killed_run_resumes_from_its_checkpoint(
    gw, app, fakes, database_url, redis_url, tmp_path
):
    made = [account(gw, f"A{n}", Email__c=f"a{n}@x.test") for n in range(8)]
    gw.platforms.settings("qbo", latency_ms=400)  # slow enough to kill it between pages
    env = environment(
        gateway_settings(fakes, database_url, redis_url),
        FLASK_APP="wsgi",
        BATCH_PAGE_SIZE="2",
        REQUESTS_CA_BUNDLE=fakes.ca_bundle,
    )
    command = ["sync", "run", "customers", "--direction", TO_QBO]
    cli = Process([".venv/bin/flask", *command], env, tmp_path / "cli.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            db.session.rollback()
            run = db.session.execute(select(BatchRun)).scalar_one_or_none()
            if run is not None and run.checkpoint is not None:
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
    assert run.status == RunStatus.RUNNING and run.direction == TO_QBO
    checkpoint, done_before = run.checkpoint, sum(run.counts.values())
    assert checkpoint == sorted(a["Id"] for a in made)[done_before - 1] and done_before < 8
    gw.platforms.settings("qbo", latency_ms=0)
    gw.platforms.clear_calls()

    time.sleep(app.config["SYNC_LOCK_SECONDS"] + 0.2)  # the killed process's lock lapses
    assert runs.resume_stalled() == [run.id]
    batch_worker()
    db.session.rollback()
    run = db.session.get(BatchRun, run.id)
    assert run.status == RunStatus.DONE, run.error
    assert run.counts["created"] == 8 and sum(run.counts.values()) == 8
    assert len(customers(gw)) == 8  # a page stored before the kill is never written twice
    # only the pages after the checkpoint are read again: full ones, then a short last one
    pages = [c for c in gw.platforms.calls("sf", "read") if "/query" in c["path"]]
    assert len(pages) == (8 - done_before) // 2 + 1, pages


def test_a_schedule_in_this_direction_takes_what_changed_since_the_last_run(gw, runner, app):
    app.config["RECONCILE_OVERLAP_SECONDS"] = 0.5
    first = account(gw, "First")
    result = runner.invoke(
        args=["sync", "schedule", "customers", "--every", "3600", "--direction", TO_QBO]
    )
    assert result.exit_code == 0, result.output
    [schedule] = db.session.execute(select(BatchSchedule)).scalars()
    assert schedule.direction == TO_QBO

    schedule.next_run_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    [run_id] = scheduled_runs.start_due()
    batch_worker()
    run = db.session.get(BatchRun, run_id)
    db.session.refresh(run)
    assert (run.status, run.direction, run.since) == (RunStatus.DONE, TO_QBO, None), run.error
    assert run.counts["created"] == 1

    time.sleep(1.1)  # past the overlap: the next run must not reach back to First
    second = account(gw, "Second")
    schedule.next_run_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    [next_id] = scheduled_runs.start_due()
    batch_worker()
    run = db.session.get(BatchRun, next_id)
    assert run.since is not None
    # First changed too since the last run started: the QuickBooks id written back to it
    assert (run.status, run.total) == (RunStatus.DONE, 2), run.error
    assert (run.counts["created"], run.counts["unchanged"]) == (1, 1), run.counts
    assert sorted(c["DisplayName"] for c in customers(gw).values()) == ["First", "Second"]
    assert {link.salesforce_id for link in gw.links()} == {first["Id"], second["Id"]}


def test_both_directions_run_quickbooks_first_and_keep_the_json_contract(gw, runner):
    from_qbo = gw.customer(DisplayName="From QuickBooks")
    account(gw, "From Salesforce")
    result = runner.invoke(args=["sync", "run", "customers", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert set(summary) == {
        "mapping", "company", "direction", "dry_run",
        "created", "updated", "linked", "unchanged", "review", "failed", "seconds",
    }  # fmt: skip
    assert summary["direction"] == "both"
    # QuickBooks -> Salesforce made the account for "From QuickBooks"; the Salesforce run then
    # finds it linked (unchanged) and creates the customer for "From Salesforce"
    assert (summary["created"], summary["unchanged"], summary["review"]) == (2, 1, 0), summary
    ways = [
        r.direction for r in db.session.execute(select(BatchRun).order_by(BatchRun.id)).scalars()
    ]
    assert ways == ["quickbooks_to_salesforce", TO_QBO]
    assert sorted(c["DisplayName"] for c in customers(gw).values()) == [
        "From QuickBooks",
        "From Salesforce",
    ]
    assert len(gw.accounts()) == 2 and gw.account(from_qbo["Id"])


def test_bad_arguments_are_clear_errors(app, runner, fakes):
    gw = connect(
        app,
        runner,
        fakes,
        INVOICES_YAML.replace("realtime: false", "direction: quickbooks_to_salesforce", 1),
    )
    gw.platforms.settings("qbo", webhooks_enabled=False)
    result = runner.invoke(args=["sync", "run", "customers", "--direction", TO_QBO])
    assert result.exit_code != 0 and "does not sync salesforce_to_quickbooks" in result.output
    with pytest.raises(runs.RunError, match="a run goes one way"):
        runs.create("invoices", None, "both", None, False, "cli")


def test_matching_copes_when_quickbooks_cannot_filter_on_the_email(gw, runner):
    # Whether QuickBooks filters on PrimaryEmailAddr is not documented: when it refuses, the
    # name query's answers are compared by email in Python, and the run goes on.
    gw.platforms.settings("qbo", unfilterable=["PrimaryEmailAddr.Address"])
    acme = gw.customer(DisplayName="Acme", **email("ap@acme.test"))
    other = gw.customer(DisplayName="Other", **email("o@x.test"))
    same_name = account(gw, "Acme", Email__c="AP@acme.test")
    renamed = account(gw, "Other Ltd", Email__c="o@x.test")  # findable by email only
    account(gw, "Third", Email__c="third@x.test")  # on a second page
    summary = to_qbo(runner, "customers")
    assert (summary["linked"], summary["created"], summary["failed"]) == (1, 2, 0), summary
    links = {link.salesforce_id: link.quickbooks_id for link in gw.links()}
    assert links[same_name["Id"]] == acme["Id"]
    assert links[renamed["Id"]] != other["Id"]  # the email alone could not be looked up
    refused = [c for c in queries(gw) if c["status"] == 400]
    assert len(refused) == 1  # tried once, then not again for the next page


def test_a_run_cancelled_from_the_page_stops_in_this_direction_too(gw, admin_client):
    account(gw, "A")
    answer = admin_client.post(
        "/admin/runs", data={"mapping": "customers", "direction": TO_QBO, "company": gw.realm}
    )
    assert answer.status_code == 303
    [run] = db.session.execute(select(BatchRun)).scalars()
    assert run.direction == TO_QBO
    assert "Salesforce → QuickBooks" in admin_client.get("/admin/runs").text
    assert admin_client.post(f"/admin/runs/{run.id}/cancel").status_code == 303
    batch_worker()  # its queued job finds it cancelled
    db.session.refresh(run)
    assert run.status == RunStatus.CANCELLED
    assert customers(gw) == {}
