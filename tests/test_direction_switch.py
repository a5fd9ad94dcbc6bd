"""A mapping that flowed one way is switched to `direction: both`: the links the first
direction made have no hash for the other one, yet a record already in step on both sides is
not written back (no write, no SyncToken bump, no echo), by a batch run or in real time. A
record really changed since is still written, once. Both ways round, through the emulators."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import select

from gateway.extensions import db
from gateway.models import EventStatus, ObjectMapping
from tests.support.batch import sync_run
from tests.support.salesforce_changes import send_callout
from tests.support.scenario import connect

TO_QBO = "salesforce_to_quickbooks"
TO_SF = "quickbooks_to_salesforce"

ONE_WAY_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: {direction}
    realtime: true
    external_id: QBO_Id__c
    fields:
      - {{quickbooks: DisplayName, salesforce: Name, required: true}}
      - {{quickbooks: BillAddr.City, salesforce: BillingCity}}
      - {{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}}
"""


def one_way(app, runner, fakes, direction: str, webhooks: bool = True):
    gw = connect(app, runner, fakes, ONE_WAY_YAML.format(direction=direction))
    gw.platforms.settings("qbo", webhooks_enabled=webhooks)
    return gw


def flow_both_ways(runner, tmp_path) -> None:
    """What the newcomer did: the same mapping, now `direction: both`, imported from the
    sync-config file."""
    config = tmp_path / "sync.yaml"
    config.write_text(ONE_WAY_YAML.format(direction="both"), encoding="utf-8")
    result = runner.invoke(args=["sync-config", "import", str(config)])
    assert result.exit_code == 0, result.output
    db.session.rollback()
    assert db.session.execute(select(ObjectMapping.direction)).scalar_one() == "both"
    # the webhook edge's cached view of real time, as it is LOOKUP_CACHE_SECONDS later
    current_app.extensions.pop("gateway_lookups", None)


def writes(gw, which: str) -> list[dict]:
    return gw.platforms.calls(which, "write")


def only_customer(gw) -> dict:
    [customer] = gw.platforms.qbo_records(gw.realm, "Customer")
    return customer


def synced_from_quickbooks(gw, runner) -> tuple[dict, dict]:
    """Customer 1 QuickBooks -> Salesforce while the mapping flows that way only."""
    customer = gw.customer(
        DisplayName="Acme Ltd", BillAddr={"City": "Leeds"}, PrimaryEmailAddr={"Address": "a@x.io"}
    )
    first = sync_run(runner, "customers", direction=TO_SF)
    assert first["created"] == 1, first
    [link] = gw.links()
    assert link.salesforce_hash and link.quickbooks_hash is None  # the cause, as found
    gw.settle()  # the create's webhook, if on: found unchanged
    gw.platforms.clear_calls()
    return customer, gw.account(customer["Id"])


@pytest.fixture
def from_quickbooks(app, runner, fakes):
    return one_way(app, runner, fakes, TO_SF, webhooks=False)


def test_a_salesforce_run_after_the_switch_leaves_quickbooks_alone(
    from_quickbooks, runner, tmp_path
):
    gw = from_quickbooks
    customer, _ = synced_from_quickbooks(gw, runner)
    flow_both_ways(runner, tmp_path)
    dry = sync_run(runner, "customers", "--dry-run", direction=TO_QBO)
    assert (dry["unchanged"], dry["updated"]) == (1, 0), dry
    assert gw.links()[0].quickbooks_hash is None  # a dry run writes nothing, links included

    summary = sync_run(runner, "customers", direction=TO_QBO)
    assert (summary["unchanged"], summary["updated"], summary["failed"]) == (1, 0, 0), summary
    assert writes(gw, "qbo") == [] and writes(gw, "sf") == []
    assert only_customer(gw)["SyncToken"] == customer["SyncToken"] == "0"
    [link] = gw.links()
    assert link.quickbooks_hash  # what QuickBooks holds is now known: the next run reads nothing

    gw.platforms.clear_calls()
    again = sync_run(runner, "customers", direction=TO_QBO)
    assert again["unchanged"] == 1, again
    assert gw.platforms.calls("qbo") == []


def test_a_salesforce_callout_after_the_switch_leaves_quickbooks_alone(
    from_quickbooks, runner, tmp_path
):
    gw = from_quickbooks
    gw.platforms.settings("qbo", webhooks_enabled=True)
    customer, account = synced_from_quickbooks(gw, runner)
    webhooks = len(gw.events(source="quickbooks"))
    flow_both_ways(runner, tmp_path)

    send_callout(gw.company(), "Account", [account])  # a save that changed nothing mapped
    gw.settle()
    [event] = gw.events(source="salesforce")
    assert (event.status, event.reason) == (EventStatus.SKIPPED, "unchanged")
    assert writes(gw, "qbo") == []
    assert len(gw.events(source="quickbooks")) == webhooks  # no write, so no webhook
    assert only_customer(gw)["SyncToken"] == "0"


def test_a_real_salesforce_change_after_the_switch_is_written_once(
    from_quickbooks, runner, tmp_path
):
    gw = from_quickbooks
    customer, account = synced_from_quickbooks(gw, runner)
    flow_both_ways(runner, tmp_path)
    gw.platforms.sf(
        "PATCH", f"/_fake/sobjects/Account/{account['Id']}", json={"BillingCity": "York"}
    )
    gw.platforms.clear_calls()

    summary = sync_run(runner, "customers", direction=TO_QBO)
    assert (summary["updated"], summary["unchanged"]) == (1, 0), summary
    assert len(writes(gw, "qbo")) == 1
    now = only_customer(gw)
    assert now["BillAddr"]["City"] == "York" and now["SyncToken"] == "1"
    # the current version was read to compare, so the update went out without a stale retry
    reads = [c for c in gw.platforms.calls("qbo", "read") if c["path"].endswith("/query")]
    assert len(reads) == 1, reads


@pytest.fixture
def from_salesforce(app, runner, fakes):
    return one_way(app, runner, fakes, TO_QBO)


def synced_from_salesforce(gw, runner) -> tuple[dict, dict]:
    """Account 1 Salesforce -> QuickBooks while the mapping flows that way only."""
    account = gw.platforms.sf_create(
        "Account", {"Name": "Globex", "BillingCity": "Hull", "Email__c": "g@x.io"}
    )
    first = sync_run(runner, "customers", direction=TO_QBO)
    assert first["created"] == 1, first
    [link] = gw.links()
    assert link.quickbooks_hash and link.salesforce_hash is None  # the same gap, mirrored
    gw.platforms.wait_webhooks_delivered()
    gw.settle()  # the create's webhook: the mapping does not flow to Salesforce yet
    gw.platforms.clear_calls()
    [account] = gw.accounts()  # with the QuickBooks id written back
    return only_customer(gw), account


def test_a_quickbooks_run_after_the_switch_leaves_salesforce_alone(
    from_salesforce, runner, tmp_path
):
    gw = from_salesforce
    _, account = synced_from_salesforce(gw, runner)
    flow_both_ways(runner, tmp_path)

    summary = sync_run(runner, "customers", direction=TO_SF)
    assert (summary["unchanged"], summary["updated"], summary["failed"]) == (1, 0, 0), summary
    assert writes(gw, "sf") == [] and writes(gw, "qbo") == []
    assert gw.accounts()[0]["SystemModstamp"] == account["SystemModstamp"]
    [link] = gw.links()
    assert link.salesforce_hash  # what Salesforce holds is now known: the next run reads nothing

    gw.platforms.clear_calls()
    again = sync_run(runner, "customers", direction=TO_SF)
    assert again["unchanged"] == 1, again
    by_id = [c for c in gw.platforms.calls("sf", "read") if "Id IN" in c["query"].get("q", "")]
    assert by_id == []


def test_a_quickbooks_webhook_after_the_switch_leaves_salesforce_alone(
    from_salesforce, runner, tmp_path
):
    gw = from_salesforce
    customer, account = synced_from_salesforce(gw, runner)
    flow_both_ways(runner, tmp_path)

    gw.customer(Id=customer["Id"], Notes="not mapped")  # a save that changed nothing mapped
    gw.settle()
    last = gw.events(source="quickbooks")[-1]
    assert (last.status, last.reason) == (EventStatus.SKIPPED, "unchanged")
    assert writes(gw, "sf") == []
    [now] = gw.accounts()
    assert now["SystemModstamp"] == account["SystemModstamp"]


def test_a_real_quickbooks_change_after_the_switch_is_written_once(
    from_salesforce, runner, tmp_path
):
    gw = from_salesforce
    customer, account = synced_from_salesforce(gw, runner)
    flow_both_ways(runner, tmp_path)

    gw.customer(Id=customer["Id"], BillAddr={"City": "York"})
    gw.settle()
    last = gw.events(source="quickbooks")[-1]
    assert last.status == EventStatus.SYNCED, last.reason
    assert len(writes(gw, "sf")) == 1
    assert gw.accounts()[0]["BillingCity"] == "York"


def test_a_failed_write_back_is_still_retried_though_quickbooks_holds_the_record(
    app, runner, fakes
):
    """The other link without a QuickBooks hash: QuickBooks took the write but giving
    Salesforce the id failed. QuickBooks is in step; Salesforce is not, so the retry writes."""
    gw = one_way(app, runner, fakes, "both")
    # a stale record holding the id the new customer gets: the write-back clashes with it
    stale = gw.platforms.sf_create("Account", {"Name": "Stale", "QBO_Id__c": f"{gw.realm}-1"})
    account = gw.platforms.sf_create("Account", {"Name": "Initech", "BillingCity": "Leeds"})
    send_callout(gw.company(), "Account", [account])
    gw.settle(until=lambda: bool(gw.events(status=EventStatus.FAILED)))
    [failed] = gw.events(source="salesforce")
    assert "writing the QuickBooks id back failed" in failed.reason and failed.retryable
    assert only_customer(gw)["DisplayName"] == "Initech"
    assert gw.links()[0].quickbooks_hash is None

    gw.platforms.sf("PATCH", f"/_fake/sobjects/Account/{stale['Id']}", json={"QBO_Id__c": None})
    gw.settle()
    [event] = gw.events(source="salesforce")
    assert event.status == EventStatus.SYNCED, event.reason
    assert gw.account("1")["Id"] == account["Id"]
    assert len(gw.platforms.qbo_records(gw.realm, "Customer")) == 1
