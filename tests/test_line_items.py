"""Line items both ways: Opportunity + OpportunityLineItems ⇄ Invoice + SalesItemLineDetail
lines, end to end through the emulators and the real worker."""

from __future__ import annotations

import pytest

from gateway import realtime
from gateway.mapping import QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
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


def opportunity_with_lines(
    gw, lines: list[tuple[str, float, float]], amount=None, stage: str = "Closed Won"
) -> dict:
    platforms = gw.platforms
    account = platforms.sf_create("Account", {"Name": "Acme Ltd"})
    opportunity = platforms.sf_create(
        "Opportunity",
        {
            "Name": "OPP-1",
            "AccountId": account["Id"],
            "CloseDate": "2026-11-20",
            "StageName": stage,
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
    # Salesforce rolls Amount up from the products itself (and refuses it as input then)
    assert written["Amount"] is None
    line_ids = sorted(i["QBO_Id__c"] for i in gw.platforms.sf_records("OpportunityLineItem"))
    assert line_ids == sorted(f"{gw.realm}-{invoice['Id']}-{line['Id']}" for line in lines)


def test_a_constant_for_salesforce_does_not_overwrite_a_record_made_there(gw):
    opportunity = opportunity_with_lines(gw, [("Design", 1, 10.0)], stage="Prospecting")
    send_callout(gw.company(), "Opportunity", [opportunity])
    gw.settle()
    [written] = gw.platforms.sf_records("Opportunity")
    assert written["StageName"] == "Prospecting"
    assert written["QBO_Id__c"]


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


def quickbooks_invoice(gw, lines: list[tuple[str, int, float]]) -> dict:
    customer = gw.customer(DisplayName="Acme Ltd")
    body_lines = []
    for name, quantity, price in lines:
        item = gw.platforms.qbo_save(gw.realm, "Item", {"Name": name, "Type": "Service"})
        body_lines.append(
            {
                "DetailType": "SalesItemLineDetail",
                "Description": f"{name} work",
                "SalesItemLineDetail": {
                    "ItemRef": {"value": item["Id"]},
                    "Qty": quantity,
                    "UnitPrice": price,
                },
            }
        )
    return gw.platforms.qbo_save(
        gw.realm,
        "Invoice",
        {
            "CustomerRef": {"value": customer["Id"]},
            "DocNumber": "INV-7",
            "TxnDate": "2026-11-20",
            "Line": body_lines,
        },
    )


def line_items(gw) -> dict[str, dict]:
    return {i["QBO_Id__c"]: i for i in gw.platforms.sf_records("OpportunityLineItem")}


def test_an_invoice_made_in_quickbooks_brings_its_lines_to_salesforce(gw):
    invoice = quickbooks_invoice(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    gw.settle()
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["QBO_Id__c"] == f"{gw.realm}-{invoice['Id']}"
    assert opportunity["Amount"] == 1105
    products = {p["Id"]: p["Name"] for p in gw.platforms.sf_records("Product2")}
    items = line_items(gw)
    expected = {f"{gw.realm}-{invoice['Id']}-{line['Id']}": line for line in item_lines(invoice)}
    assert set(items) == set(expected)
    for ext, item in items.items():
        detail = expected[ext]["SalesItemLineDetail"]
        assert item["OpportunityId"] == opportunity["Id"]
        assert (item["Quantity"], item["UnitPrice"]) == (detail["Qty"], detail["UnitPrice"])
        assert products[item["Product2Id"]] == detail["ItemRef"]["name"]
    invoice_event = gw.events(entity="Invoice")[-1]
    assert invoice_event.status == EventStatus.SYNCED, invoice_event.reason


def test_a_line_removed_in_quickbooks_is_removed_in_salesforce(gw):
    invoice = quickbooks_invoice(gw, [("Design", 2, 150.0), ("Build", 10, 80.5)])
    gw.settle()
    kept = item_lines(invoice)[1]
    gw.platforms.qbo_save(gw.realm, "Invoice", {"Id": invoice["Id"], "Line": [kept]})
    gw.settle()
    assert set(line_items(gw)) == {f"{gw.realm}-{invoice['Id']}-{kept['Id']}"}
    [opportunity] = gw.platforms.sf_records("Opportunity")
    assert opportunity["Amount"] == 805


def test_an_unchanged_invoice_writes_no_lines_again(gw):
    invoice = quickbooks_invoice(gw, [("Design", 2, 150.0)])
    gw.settle()
    gw.platforms.clear_calls()
    gw.platforms.qbo_save(gw.realm, "Invoice", {"Id": invoice["Id"], "PrivateNote": "memo"})
    gw.settle()
    assert gw.platforms.calls("sf", "write") == []
    assert gw.events(entity="Invoice")[-1].reason == "unchanged"


def test_an_opportunity_deleted_in_salesforce_deletes_its_invoice(gw):
    opportunity = opportunity_with_lines(gw, [("Design", 2, 150.0)])
    send_callout(gw.company(), "Opportunity", [opportunity])
    gw.settle()
    [invoice] = invoices(gw)
    gw.platforms.sf("DELETE", f"/_fake/sobjects/Opportunity/{opportunity['Id']}")
    [deleted] = [
        o for o in gw.platforms.sf_records("Opportunity", include_deleted=True) if o["IsDeleted"]
    ]
    send_callout(gw.company(), "Opportunity", [deleted], operation="delete")
    gw.settle()
    assert invoices(gw) == []
    event = gw.events(source="salesforce")[-1]
    assert event.status == EventStatus.SYNCED, event.reason
    assert event.reason.endswith(f"deleted Invoice {invoice['Id']}")


def test_line_items_are_real_time_objects_of_their_parents_mapping(gw):
    company = gw.company()
    [invoices_mapping] = realtime.enabled_mappings(
        company, SALESFORCE_TO_QUICKBOOKS, "OpportunityLineItem"
    )
    assert invoices_mapping.name == "invoices"
    assert "OpportunityLineItem" in realtime.realtime_objects(SALESFORCE_TO_QUICKBOOKS)[company.id]
    assert realtime.enabled_mappings(company, QUICKBOOKS_TO_SALESFORCE, "OpportunityLineItem") == []
