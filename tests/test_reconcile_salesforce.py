"""The reconciler's Salesforce side through the emulators: changes a person made while no
callout reached the gateway (the fake sends none unless told) are found by SystemModstamp and
synced to QuickBooks once; what a callout brought is not stored again; the watermark moves
only after each page is stored; line items and deletes are caught too."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from gateway.batch.reconcile_salesforce import soql_time
from gateway.extensions import db
from gateway.models import EventStatus, Watermark
from tests.support.salesforce_changes import send_callout
from tests.support.scenario import connect

CUSTOMERS_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: salesforce_to_quickbooks
    realtime: true
    on_delete: delete
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
"""

INVOICES_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: salesforce_to_quickbooks
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
  - name: items
    quickbooks: Item
    salesforce: Product2
    direction: salesforce_to_quickbooks
    fields:
      - {quickbooks: Name, salesforce: Name, required: true}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: salesforce_to_quickbooks
    realtime: true
    on_delete: delete
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers, required: true}
      - {quickbooks: DocNumber, salesforce: Name, required: true}
      - {quickbooks: TxnDate, salesforce: CloseDate, required: true}
    lines:
      salesforce: OpportunityLineItem
      parent_field: OpportunityId
      external_id: QBO_Id__c
      fields:
        - quickbooks: SalesItemLineDetail.ItemRef.value
          salesforce: Product2Id
          lookup: items
          required: true
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: Quantity, default: 1}
        - {quickbooks: SalesItemLineDetail.UnitPrice, salesforce: UnitPrice}
"""


def reconcile_cli(runner, *args: str) -> dict:
    """The CLI's counts of the Salesforce side, per company."""
    result = runner.invoke(args=["sync", "reconcile", "--json", *args])
    assert result.exit_code == 0, result.output
    return {realm: sides["salesforce"] for realm, sides in json.loads(result.output).items()}


def customers(gw) -> dict[str, dict]:
    return {c["DisplayName"]: c for c in gw.platforms.qbo_records(gw.realm, "Customer")}


def account(gw, name: str, **fields) -> dict:
    return gw.platforms.sf_create("Account", {"Name": name, **fields})


def edit(gw, sobject: str, record_id: str, **fields) -> dict:
    return gw.platforms.sf("PATCH", f"/_fake/sobjects/{sobject}/{record_id}", json=fields)


def remove(gw, sobject: str, record_id: str) -> dict:
    gw.platforms.sf("DELETE", f"/_fake/sobjects/{sobject}/{record_id}")
    [gone] = [
        r for r in gw.platforms.sf_records(sobject, include_deleted=True) if r["Id"] == record_id
    ]
    return gone


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes, CUSTOMERS_YAML)


def test_changes_made_while_callouts_were_off_are_synced_once(gw, runner):
    edited = account(gw, "Edited")
    removed = account(gw, "Removed")
    send_callout(gw.company(), "Account", [edited, removed])
    gw.settle()
    assert set(customers(gw)) == {"Edited", "Removed"}

    # No callout reaches the gateway from here on (the fake sends none unless told to).
    created = account(gw, "Created while down", BillingCity="Leeds")
    edit(gw, "Account", edited["Id"], Name="Edited while down")
    remove(gw, "Account", removed["Id"])
    gw.platforms.clear_calls()

    assert reconcile_cli(runner, "--company", gw.realm) == {gw.realm: {"Account": 3}}
    gw.settle()
    now = customers(gw)
    assert set(now) == {"Created while down", "Edited while down", "Removed (deleted)"}
    assert now["Created while down"]["BillAddr"]["City"] == "Leeds"
    assert now["Removed (deleted)"]["Active"] is False  # a name-list entity's delete policy
    latest = {e.record_id: e for e in gw.events(source="salesforce")}
    for record in (created, edited, removed):
        assert latest[record["Id"]].status == EventStatus.SYNCED, latest[record["Id"]].reason
    assert len(gw.platforms.calls("qbo", "write")) <= 3
    [written_back] = [a for a in gw.accounts() if a["Id"] == created["Id"]]
    assert written_back["QBO_Id__c"] == f"{gw.realm}-{now['Created while down']['Id']}"

    # Again: the overlap sees the person's changes (stored: dropped) and the ids the gateway
    # wrote back (its own writes: skipped); nothing is stored, nothing written.
    gw.platforms.clear_calls()
    assert reconcile_cli(runner) == {gw.realm: {"Account": 0}}
    gw.settle()
    assert gw.platforms.calls("qbo", "write") == []
    assert len(gw.events(source="salesforce")) == 5


def test_the_cli_names_both_sides(gw, runner):
    account(gw, "Missed")
    result = runner.invoke(args=["sync", "reconcile"])
    assert result.exit_code == 0, result.output
    assert f"company {gw.realm} Salesforce Account: 1 changes to sync" in result.output


def test_changes_a_callout_brought_are_not_stored_again(gw, runner):
    announced = account(gw, "Announced")
    send_callout(gw.company(), "Account", [announced])
    gone = account(gw, "Gone")
    send_callout(gw.company(), "Account", [gone])
    gw.settle()
    # The package's trigger names a deleted record with its modstamp from before the delete,
    # so its event cannot have the key the reconciler sees (the modstamp of the delete).
    remove(gw, "Account", gone["Id"])
    send_callout(gw.company(), "Account", [gone], operation="delete")
    gw.settle()
    stored = len(gw.events())

    assert reconcile_cli(runner) == {gw.realm: {"Account": 0}}
    assert len(gw.events()) == stored


def test_a_change_ignored_while_real_time_was_off_is_caught_up(gw, runner):
    from gateway import realtime
    from gateway.models import ObjectMapping

    mapping = db.session.execute(select(ObjectMapping)).scalar_one()
    realtime.set_enabled(mapping, gw.company(), False)
    db.session.commit()
    later = account(gw, "While off")
    send_callout(gw.company(), "Account", [later])
    [ignored] = gw.events()
    assert ignored.status == EventStatus.IGNORED

    mapping = db.session.execute(select(ObjectMapping)).scalar_one()
    realtime.set_enabled(mapping, gw.company(), True)
    db.session.commit()
    assert reconcile_cli(runner) == {gw.realm: {"Account": 1}}
    gw.settle()
    assert set(customers(gw)) == {"While off"}


def test_the_watermark_moves_only_after_each_page_is_stored(gw, runner, app):
    app.config["RECONCILE_OVERLAP_SECONDS"] = 0
    gw.platforms.settings("sf", query_page_size=2)
    made = [account(gw, f"Account {n}") for n in range(5)]
    # The first question fails: nothing stored, no watermark.
    gw.platforms.settings("sf", fail_next=[{"match": "/queryAll/$", "status": 503}])
    result = runner.invoke(args=["sync", "reconcile"])
    assert result.exit_code != 0 and "Salesforce 503" in result.output
    db.session.rollback()
    assert db.session.execute(select(Watermark)).first() is None
    assert gw.events() == []

    # The second page fails: the first is stored, and the watermark is at its last change.
    gw.platforms.settings("sf", fail_next=[{"match": "/queryAll/.", "status": 503}])
    result = runner.invoke(args=["sync", "reconcile"])
    assert result.exit_code != 0 and "Salesforce 503" in result.output
    assert [e.record_id for e in gw.events()] == [made[0]["Id"], made[1]["Id"]]
    [mark] = db.session.execute(select(Watermark)).scalars()
    assert (mark.source, mark.object_name) == ("sf", "Account")
    assert mark.caught_up_to == datetime.fromisoformat(made[1]["SystemModstamp"])

    # The next round goes on from there; every account is stored once and synced.
    assert reconcile_cli(runner) == {gw.realm: {"Account": 3}}
    assert [e.record_id for e in gw.events()] == [m["Id"] for m in made]
    db.session.rollback()
    [mark] = db.session.execute(select(Watermark)).scalars()
    assert mark.caught_up_to > datetime.fromisoformat(made[4]["SystemModstamp"])
    gw.settle()
    assert set(customers(gw)) == {f"Account {n}" for n in range(5)}


def test_a_soql_start_never_leaves_out_a_change_on_its_second():
    assert soql_time(datetime(2026, 11, 26, 13, 5, 7, 250000, UTC)) == "2026-11-26T13:05:07Z"
    assert soql_time(datetime(2026, 11, 26, 13, 5, 7, tzinfo=UTC)) == "2026-11-26T13:05:06Z"


@pytest.fixture
def invoices_gw(app, runner, fakes):
    return connect(app, runner, fakes, INVOICES_YAML)


def opportunity(gw, lines: list[tuple[str, float, float]]) -> tuple[dict, list[dict]]:
    platforms = gw.platforms
    acme = platforms.sf_create("Account", {"Name": "Acme Ltd"})
    opp = platforms.sf_create(
        "Opportunity",
        {"Name": "OPP-1", "AccountId": acme["Id"], "CloseDate": "2026-11-20", "StageName": "Won"},
    )
    items = []
    for name, quantity, price in lines:
        product = platforms.sf_create("Product2", {"Name": name})
        items.append(
            platforms.sf_create(
                "OpportunityLineItem",
                {
                    "OpportunityId": opp["Id"],
                    "Product2Id": product["Id"],
                    "Quantity": quantity,
                    "UnitPrice": price,
                },
            )
        )
    return opp, items


def invoice_lines(gw) -> list[tuple[float, float]]:
    [invoice] = gw.platforms.qbo_records(gw.realm, "Invoice")
    return sorted(
        (line["SalesItemLineDetail"]["Qty"], line["SalesItemLineDetail"]["UnitPrice"])
        for line in invoice["Line"]
        if line["DetailType"] == "SalesItemLineDetail"
    )


def test_a_missed_line_item_edit_or_removal_updates_the_invoice(invoices_gw, runner):
    gw = invoices_gw
    opp, [design, build] = opportunity(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    send_callout(gw.company(), "Opportunity", [opp])
    gw.settle()
    assert invoice_lines(gw) == [(2, 150.0), (10, 80.5)]

    edit(gw, "OpportunityLineItem", design["Id"], Quantity=3)
    found = reconcile_cli(runner)
    # the parent did not change itself; its line did, and the line's change is the parent's
    assert found == {gw.realm: {"Opportunity": 0, "OpportunityLineItem": 1}}
    [event] = gw.events(reason="found by the reconciler (no callout announced it)")
    assert (event.entity, event.record_id, event.operation) == ("Opportunity", opp["Id"], "upsert")
    gw.settle()
    assert invoice_lines(gw) == [(3, 150.0), (10, 80.5)]

    # The package's trigger sends a line's change as its parent's, with the line's modstamp:
    # that one is not stored again.
    changed = edit(gw, "OpportunityLineItem", design["Id"], UnitPrice=160.0)
    as_sent = {"Id": opp["Id"], "SystemModstamp": changed["SystemModstamp"]}
    assert send_callout(gw.company(), "Opportunity", [as_sent]) == 1
    gw.settle()
    assert reconcile_cli(runner) == {gw.realm: {"Opportunity": 0, "OpportunityLineItem": 0}}
    assert invoice_lines(gw) == [(3, 160.0), (10, 80.5)]

    remove(gw, "OpportunityLineItem", build["Id"])
    assert reconcile_cli(runner) == {gw.realm: {"Opportunity": 0, "OpportunityLineItem": 1}}
    gw.settle()
    assert invoice_lines(gw) == [(3, 160.0)]


def test_an_opportunity_deleted_while_callouts_were_off_deletes_its_invoice(invoices_gw, runner):
    gw = invoices_gw
    opp, _ = opportunity(gw, [("Design", 1, 100.0)])
    send_callout(gw.company(), "Opportunity", [opp])
    gw.settle()
    [invoice] = gw.platforms.qbo_records(gw.realm, "Invoice")

    remove(gw, "Opportunity", opp["Id"])
    assert reconcile_cli(runner) == {gw.realm: {"Opportunity": 1, "OpportunityLineItem": 0}}
    gw.settle()
    assert gw.platforms.qbo_records(gw.realm, "Invoice") == []
    [deleted] = gw.events(source="salesforce", operation="delete")
    assert deleted.status == EventStatus.SYNCED, deleted.reason
    assert deleted.reason.endswith(f"deleted Invoice {invoice['Id']}")
