"""The sync-config keys added for the second direction: constants, `companies:`, real time per
company, and `lines:` (design §4)."""

from __future__ import annotations

import textwrap

import pytest

from gateway import mapping
from gateway.sync_config import ConfigError, dump_config, parse_config

INVOICES = """\
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    companies: [9130350000002, "9130350000001"]
    realtime: ["9130350000002"]
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers, required: true}
      - {quickbooks: TxnDate, salesforce: CloseDate, required: true}
      - {salesforce: StageName, default: Closed Won}
      - {quickbooks: PrivateNote, default: From Salesforce}
    lines:
      salesforce: OpportunityLineItem
      parent_field: OpportunityId
      default_item: Services
      fields:
        - {quickbooks: SalesItemLineDetail.ItemRef.value, salesforce: Product2Id, lookup: items}
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: Quantity, default: 1}
        - {quickbooks: Description, salesforce: Description}
  - name: customers
    quickbooks: Customer
    salesforce: Account
    fields:
      - {quickbooks: DisplayName, salesforce: Name}
  - name: items
    quickbooks: Item
    salesforce: Product2
    fields:
      - {quickbooks: Name, salesforce: Name}
"""


def invoices() -> dict:
    return next(m for m in parse_config(INVOICES) if m["name"] == "invoices")


def errors_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_config(textwrap.dedent(text))
    return error.value.errors


def test_companies_and_realtime_realms_are_sorted_text():
    spec = invoices()
    assert spec["companies"] == ["9130350000001", "9130350000002"]
    assert spec["realtime"] == ["9130350000002"]


def test_a_field_with_one_side_and_a_default_is_a_constant_towards_that_side():
    fields = invoices()["fields"]
    assert {"salesforce": "StageName", "default": "Closed Won",
            "direction": "quickbooks_to_salesforce"} in fields  # fmt: skip
    assert {"quickbooks": "PrivateNote", "default": "From Salesforce",
            "direction": "salesforce_to_quickbooks"} in fields  # fmt: skip


def test_constants_are_written_to_their_side_only():
    spec = invoices()
    invoice = {"CustomerRef": {"value": "7"}, "TxnDate": "2026-11-01", "PrivateNote": "x"}
    to_sf = mapping.to_salesforce(invoice, spec, {("customers", "7"): "001A"})
    assert to_sf["StageName"] == "Closed Won"
    assert "PrivateNote" not in to_sf
    opportunity = {"AccountId": "001A", "CloseDate": "2026-11-01", "StageName": "Prospecting"}
    to_qbo = mapping.to_quickbooks(opportunity, spec, {("customers", "001A"): "7"})
    assert to_qbo["PrivateNote"] == "From Salesforce"
    assert "StageName" not in to_qbo


def test_lines_are_normalized_with_their_detail_type():
    lines = invoices()["lines"]
    assert lines["salesforce"] == "OpportunityLineItem"
    assert lines["parent_field"] == "OpportunityId"
    assert lines["external_id"] == "QBO_Id__c"
    assert lines["default_item"] == "Services"
    assert lines["detail_type"] == "SalesItemLineDetail"
    assert [f.get("lookup") for f in lines["fields"]] == ["items", None, None]


def test_export_import_export_is_byte_identical_with_the_new_keys():
    first = dump_config(parse_config(INVOICES))
    assert "companies:" in first and "lines:" in first and "default_item: Services" in first
    assert dump_config(parse_config(first)) == first
    # a constant's direction follows from its side, so it is not written out
    assert "{salesforce: StageName, default: Closed Won}" in first


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "fields: [{salesforce: StageName}]",
            "line 5: mappings[0].fields[0]: missing required key 'quickbooks' (a field with "
            "one side is a constant and needs a 'default')",
        ),
        (
            "fields: [{default: 3}]",
            "line 5: mappings[0].fields[0]: missing required key 'quickbooks' or 'salesforce'",
        ),
        (
            "fields: [{salesforce: StageName, default: Won, direction: both}]",
            "line 5: mappings[0].fields[0].direction: a constant for the Salesforce side flows "
            "quickbooks_to_salesforce",
        ),
        (
            "direction: salesforce_to_quickbooks\n"
            "        fields: [{salesforce: StageName, default: W}]",
            "line 6: mappings[0].fields[0]: a constant written quickbooks_to_salesforce cannot "
            "be in a mapping whose direction is salesforce_to_quickbooks",
        ),
        ("companies: [true]", "line 5: mappings[0].companies[0]: 'true' is not a realm id"),
        (
            "lines: {salesforce: OpportunityLineItem, fields: []}",
            "line 5: mappings[0].lines: missing required key 'parent_field'",
        ),
        (
            "lines: {salesforce: X, parent_field: P, fields: [{quickbooks: SalesItemLineDetail.Qty,"
            " salesforce: Quantity}, {quickbooks: DiscountLineDetail.Pct, salesforce: D}]}",
            "line 5: mappings[0].lines: line fields read more than one line detail type: "
            "DiscountLineDetail (mappings[0].lines.fields[1]), SalesItemLineDetail "
            "(mappings[0].lines.fields[0])",
        ),
    ],
)
def test_mistakes_in_the_new_keys_name_their_line(body, expected):
    text = f"""\
    mappings:
      - name: invoices
        quickbooks: Invoice
        salesforce: Opportunity
        {body}
    """
    assert errors_of(text) == [expected]
