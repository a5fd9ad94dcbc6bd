"""The pure parts of line items and of the per-direction hashes."""

from __future__ import annotations

import pytest

from gateway import sync_config
from gateway.mapping import MappingError, to_quickbooks
from gateway.mapping.lines import ITEMS_KEY, LineMapping, parse_line_external_id
from gateway.mapping.projection import (
    quickbooks_content_hash,
    recorded_quickbooks_hash,
    salesforce_differences,
)

REALM = "9130"
CONFIG = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    fields:
      - {quickbooks: DocNumber, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: Description}
    lines:
      salesforce: OpportunityLineItem
      parent_field: OpportunityId
      default_item: Services
      fields:
        - {quickbooks: SalesItemLineDetail.ItemRef.value, salesforce: Product2Id, lookup: items}
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: Quantity, default: 1}
        - {quickbooks: SalesItemLineDetail.UnitPrice, salesforce: UnitPrice}
  - name: items
    quickbooks: Item
    salesforce: Product2
    fields:
      - {quickbooks: Name, salesforce: Name}
"""
SPEC = sync_config.parse_config(CONFIG)[0]
RESOLVED = {("items", "01tA"): "7", ("items", "01tB"): "8", ("default_item", "Services"): "1"}


def lines() -> LineMapping:
    return LineMapping(SPEC["lines"], SPEC["direction"], REALM)


def opportunity(*items: dict) -> dict:
    return {"Id": "006X", "Name": "OPP-1", "Amount": 99.5, ITEMS_KEY: list(items)}


def test_line_items_become_item_lines_with_amounts_worked_out():
    record = opportunity(
        {"Id": "00kA", "Product2Id": "01tA", "Quantity": 3, "UnitPrice": 19.99},
        {"Id": "00kB", "Product2Id": "01tB", "Quantity": None, "UnitPrice": 5},
    )
    built = lines().to_quickbooks(record, None, 99.5, RESOLVED, None)
    assert built == [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 59.97,
            "SalesItemLineDetail": {"ItemRef": {"value": "7"}, "Qty": 3, "UnitPrice": 19.99},
        },
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 5,
            "SalesItemLineDetail": {"ItemRef": {"value": "8"}, "Qty": 1, "UnitPrice": 5},
        },
    ]


def test_a_linked_line_item_keeps_its_line_id_on_the_same_invoice_only():
    linked = {"Id": "00kA", "Product2Id": "01tA", "Quantity": 1, "UnitPrice": 2}
    linked["QBO_Id__c"] = f"{REALM}-55-3"
    [line] = lines().to_quickbooks(opportunity(linked), "55", 0, RESOLVED, None)
    assert line["Id"] == "3"
    [line] = lines().to_quickbooks(opportunity(linked), "56", 0, RESOLVED, None)
    assert "Id" not in line
    assert parse_line_external_id(f"{REALM}-55-3", REALM) == ("55", "3")
    assert parse_line_external_id("other-55-3", REALM) is None


def test_no_line_items_is_one_line_of_the_amount_for_the_default_item():
    [line] = lines().to_quickbooks(opportunity(), None, 99.5, RESOLVED, None)
    assert line["Amount"] == 99.5
    assert line["SalesItemLineDetail"] == {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 99.5}
    without_default = {**SPEC["lines"], "default_item": None}
    with pytest.raises(MappingError, match="default_item"):
        LineMapping(without_default, "both", REALM).to_quickbooks(opportunity(), None, 1, {}, None)


def test_other_lines_are_kept_and_the_subtotal_left_to_quickbooks():
    current = {
        "Line": [
            {"Id": "1", "DetailType": "SalesItemLineDetail", "Amount": 1},
            {"Id": "2", "DetailType": "DiscountLineDetail", "Amount": 3},
            {"DetailType": "SubTotalLineDetail", "Amount": 1},
        ]
    }
    new = [{"DetailType": "SalesItemLineDetail", "Amount": 9}]
    assert [line.get("Id") for line in lines().keep_other_lines(new, current)] == [None, "2"]


def test_a_mapped_record_hashes_like_the_quickbooks_record_that_holds_it():
    record = opportunity({"Id": "00kA", "Product2Id": "01tA", "Quantity": 3, "UnitPrice": 20})
    record["Description"] = None  # cleared: nothing at BillAddr.City either
    mapping_lines = lines()
    payload = to_quickbooks(record, SPEC, RESOLVED, None)
    payload["Line"] = mapping_lines.to_quickbooks(record, None, 0, RESOLVED, None)
    invoice = {
        "Id": "55",
        "DocNumber": "OPP-1",
        "TotalAmt": 60,
        "Line": [
            {
                "Id": "1",
                "LineNum": 1,
                "DetailType": "SalesItemLineDetail",
                "Amount": 60.0,
                "SalesItemLineDetail": {"ItemRef": {"value": "7", "name": "A"}, "Qty": 3.0,
                                        "UnitPrice": 20},
            },
            {"DetailType": "SubTotalLineDetail", "Amount": 60},
        ],
    }  # fmt: skip
    assert quickbooks_content_hash(payload, mapping_lines) == recorded_quickbooks_hash(
        invoice, SPEC, mapping_lines
    )
    invoice["Line"][0]["SalesItemLineDetail"]["Qty"] = 4
    assert quickbooks_content_hash(payload, mapping_lines) != recorded_quickbooks_hash(
        invoice, SPEC, mapping_lines
    )


def test_salesforce_differences_compare_values_not_spellings():
    record = {"Amount": 10.0, "Name": "A", "Flag__c": False, "Empty__c": None}
    payload = {"Amount": 10, "Name": "A", "Flag__c": False, "Empty__c": "", "New__c": 0}
    assert salesforce_differences(payload, record) == {"New__c": 0}


def test_the_default_item_line_alone_stands_for_no_line_items():
    default_line = {
        "Id": "1",
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}, "Qty": 1},
    }
    other_line = {
        "Id": "2",
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "7", "name": "Design"}, "Qty": 1},
    }
    assert lines().lines_for_salesforce({"Line": [default_line]}) == []
    assert lines().lines_for_salesforce({"Line": [default_line, other_line]}) == [
        default_line,
        other_line,
    ]
