"""Line items both ways: Opportunity + OpportunityLineItems ⇄ Invoice + SalesItemLineDetail
lines, end to end through the emulators and the real worker."""

from __future__ import annotations

import pytest

from gateway.models import EventStatus
from tests.support.salesforce_changes import send_callout
from tests.support.scenario import connect

INVOICES_YAML = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: true
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
  - name: items
    quickbooks: Item
    salesforce: Product2
    realtime: true
    fields:
      - {quickbooks: Name, salesforce: Name, required: true}
      - {quickbooks: Sku, salesforce: ProductCode}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    realtime: true
    on_delete: delete
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers, required: true}
      - {quickbooks: DocNumber, salesforce: Name, required: true}
      - {quickbooks: TxnDate, salesforce: CloseDate, required: true}
      - {quickbooks: TotalAmt, salesforce: Amount, direction: quickbooks_to_salesforce}
      - {salesforce: StageName, default: Closed Won}
    lines:
      salesforce: OpportunityLineItem
      parent_field: OpportunityId
      external_id: QBO_Id__c
      default_item: Services
      fields:
        - quickbooks: SalesItemLineDetail.ItemRef.value
          salesforce: Product2Id
          lookup: items
          required: true
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: Quantity, default: 1}
        - {quickbooks: SalesItemLineDetail.UnitPrice, salesforce: UnitPrice}
        - {quickbooks: Description, salesforce: Description}
"""


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes, INVOICES_YAML)


def invoices(gw) -> list[dict]:
    return gw.platforms.qbo_records(gw.realm, "Invoice")


def item_lines(invoice: dict) -> list[dict]:
    return [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]


def opportunity_with_lines(gw, lines: list[tuple[str, float, float]], amount=None) -> dict:
    platforms = gw.platforms
    account = platforms.sf_create("Account", {"Name": "Acme Ltd"})
    opportunity = platforms.sf_create(
        "Opportunity",
        {
            "Name": "OPP-1",
            "AccountId": account["Id"],
            "CloseDate": "2026-11-20",
            "StageName": "Closed Won",
            "Amount": amount,
        },
    )
    for name, quantity, price in lines:
        product = platforms.sf_create("Product2", {"Name": name, "ProductCode": name.upper()})
        platforms.sf_create(
            "OpportunityLineItem",
            {
                "OpportunityId": opportunity["Id"],
                "Product2Id": product["Id"],
                "Quantity": quantity,
                "UnitPrice": price,
                "Description": f"{name} work",
            },
        )
    return opportunity


def test_an_opportunity_with_lines_brings_its_account_and_products_first(gw):
    opportunity = opportunity_with_lines(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    send_callout(gw.company(), "Opportunity", [opportunity])
    gw.settle()
    [customer] = gw.platforms.qbo_records(gw.realm, "Customer")
    items = {i["Name"]: i for i in gw.platforms.qbo_records(gw.realm, "Item")}
    assert set(items) >= {"Design", "Build"}
    [invoice] = invoices(gw)
    assert invoice["CustomerRef"]["value"] == customer["Id"]
    assert invoice["DocNumber"] == "OPP-1"
    lines = item_lines(invoice)
    assert [
        (line["SalesItemLineDetail"]["ItemRef"]["value"], line["Amount"]) for line in lines
    ] == [(items["Design"]["Id"], 300), (items["Build"]["Id"], 805)]
    assert invoice["TotalAmt"] == 1105
    event = gw.events(source="salesforce")[-1]
    assert event.status == EventStatus.SYNCED, event.reason
    written = {o["Id"]: o for o in gw.platforms.sf_records("Opportunity")}[opportunity["Id"]]
    assert written["QBO_Id__c"] == f"{gw.realm}-{invoice['Id']}"
    assert written["Amount"] == 1105  # the total QuickBooks worked out, in the id's write-back
    line_ids = sorted(i["QBO_Id__c"] for i in gw.platforms.sf_records("OpportunityLineItem"))
    assert line_ids == sorted(f"{gw.realm}-{invoice['Id']}-{line['Id']}" for line in lines)


def test_a_line_removed_in_salesforce_is_removed_from_the_invoice(gw):
    opportunity = opportunity_with_lines(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    send_callout(gw.company(), "Opportunity", [opportunity])
    gw.settle()
    [first_line] = [i for i in gw.platforms.sf_records("OpportunityLineItem") if i["Quantity"] == 2]
    gw.platforms.sf("DELETE", f"/_fake/sobjects/OpportunityLineItem/{first_line['Id']}")
    # The package's trigger on OpportunityLineItem sends the line item that changed.
    send_callout(gw.company(), "OpportunityLineItem", [first_line], operation="delete")
    gw.settle()
    [invoice] = invoices(gw)
    [line] = item_lines(invoice)
    assert line["SalesItemLineDetail"]["Qty"] == 10
    assert invoice["TotalAmt"] == 805
    assert gw.events(source="salesforce")[-1].status == EventStatus.SYNCED


def test_an_opportunity_without_products_is_one_line_of_its_amount_for_the_default_item(gw):
    services = gw.platforms.qbo_save(gw.realm, "Item", {"Name": "Services", "Type": "Service"})
    opportunity = opportunity_with_lines(gw, [], amount=1250.0)
    send_callout(gw.company(), "Opportunity", [opportunity])
    gw.settle()
    [invoice] = invoices(gw)
    [line] = item_lines(invoice)
    assert line["SalesItemLineDetail"]["ItemRef"]["value"] == services["Id"]
    assert line["Amount"] == 1250
    assert gw.events(source="salesforce")[-1].status == EventStatus.SYNCED


def test_a_discount_line_in_quickbooks_is_left_alone(gw):
    opportunity = opportunity_with_lines(gw, [("Design", 2, 150.0)])
    send_callout(gw.company(), "Opportunity", [opportunity])
    gw.settle()
    [invoice] = invoices(gw)
    discount = {
        "DetailType": "DiscountLineDetail",
        "Amount": 30,
        "DiscountLineDetail": {"PercentBased": False},
    }
    gw.platforms.qbo_save(
        gw.realm, "Invoice", {"Id": invoice["Id"], "Line": [*item_lines(invoice), discount]}
    )
    gw.settle()
    [item] = gw.platforms.sf_records("OpportunityLineItem")
    edited = gw.platforms.sf(
        "PATCH", f"/_fake/sobjects/OpportunityLineItem/{item['Id']}", json={"Quantity": 3}
    )
    send_callout(gw.company(), "OpportunityLineItem", [edited])
    gw.settle()
    [invoice] = invoices(gw)
    assert [line["DetailType"] for line in invoice["Line"]] == [
        "SalesItemLineDetail", "DiscountLineDetail", "SubTotalLineDetail"
    ]  # fmt: skip
    assert item_lines(invoice)[0]["SalesItemLineDetail"]["Qty"] == 3
    assert invoice["TotalAmt"] == 420
