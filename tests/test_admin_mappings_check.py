"""gateway.mapping_check (the completeness check the editor and Real-Time share), the QuickBooks
field catalogue and auto-map, on the describe of the emulated org."""

from __future__ import annotations

import pytest

from gateway import automap, mapping_check, qbo_fields, sync_config
from gateway.mapping_check import ERROR, WARNING, Problem, compatibility
from tests.fakes.salesforce_schema import default_objects, new_field

OBJECTS = default_objects()


def describe(sobject: str) -> dict[str, dict] | None:
    found = OBJECTS.get(sobject)
    if found is None:
        return None
    return {name: field.describe() for name, field in found.fields.items()}


def spec_of(text: str) -> dict:
    return sync_config.parse_config(text, known_mapping_names=["customers", "items"])[0]


def check(text: str, lines_object: str | None = None) -> list[Problem]:
    spec = spec_of(text)
    return mapping_check.problems(
        spec, describe(spec["salesforce"]), describe(lines_object) if lines_object else None
    )


def messages(found: list[Problem], severity: str | None = None) -> list[str]:
    return [f"{p.where}: {p.message}" for p in found if severity in (None, p.severity)]


CUSTOMERS = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    on_delete: flag:QBO_Deleted__c
    fields:
      - {quickbooks: DisplayName, salesforce: Name}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
"""


def test_a_complete_mapping_has_no_errors():
    found = check(CUSTOMERS)
    assert mapping_check.is_complete(found), found
    assert messages(found) == [
        "fields[0]: DisplayName holds up to 500 characters; Name keeps 255, longer values are "
        "refused"
    ]


def test_required_salesforce_fields_must_be_mapped_or_defaulted():
    text = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: quickbooks_to_salesforce
    fields:
      - {quickbooks: DocNumber, salesforce: Name}
"""
    assert messages(check(text), ERROR) == [
        "fields: required Salesforce field Opportunity.CloseDate is not mapped or given a default",
        "fields: required Salesforce field Opportunity.StageName is not mapped or given a default",
    ]
    constant = text + "      - {salesforce: StageName, default: Closed Won}\n"
    constant += "      - {quickbooks: TxnDate, salesforce: CloseDate}\n"
    assert mapping_check.is_complete(check(constant))


def test_required_quickbooks_fields_matter_only_when_writing_to_quickbooks():
    text = """
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: DIRECTION
    fields:
      - {quickbooks: CompanyName, salesforce: Name}
"""
    towards_sf = check(text.replace("DIRECTION", "quickbooks_to_salesforce"))
    assert mapping_check.is_complete(towards_sf)
    both = check(text.replace("DIRECTION", "both"))
    assert messages(both, ERROR) == [
        "fields: required QuickBooks Customer.DisplayName is not mapped or given a default"
    ]


def test_an_invoice_written_to_quickbooks_needs_its_customer_and_lines():
    text = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: salesforce_to_quickbooks
    fields:
      - {quickbooks: DocNumber, salesforce: Name}
"""
    assert messages(check(text), ERROR) == [
        "fields: required QuickBooks Invoice.CustomerRef.value is not mapped or given a default",
        "fields: required QuickBooks Invoice.Line is not mapped or given a default (add line "
        "items below)",
    ]


def test_lines_are_checked_against_the_line_object():
    text = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: quickbooks_to_salesforce
    fields:
      - {quickbooks: DocNumber, salesforce: Name}
      - {quickbooks: TxnDate, salesforce: CloseDate}
      - {salesforce: StageName, default: Closed Won}
    lines:
      salesforce: Product2
      parent_field: Name
      fields:
        - {quickbooks: SalesItemLineDetail.Qty, salesforce: ProductCode}
        - {quickbooks: SalesItemLineDetail.ServiceDate, salesforce: IsActive}
"""
    found = messages(check(text, lines_object="Product2"))
    assert "lines.parent_field: Product2.Name is not a lookup to the parent" in found
    assert (
        "lines.fields[1]: Product2.IsActive (boolean) into SalesItemLineDetail.ServiceDate (date): "
        "the types do not fit" not in found
    )  # the direction is towards Salesforce: the message names the source first
    assert (
        "lines.fields[1]: SalesItemLineDetail.ServiceDate (date) into Product2.IsActive "
        "(boolean): the types do not fit" in found
    )
    assert "lines.salesforce: the Salesforce org has no object Nope" in messages(
        check(text.replace("salesforce: Product2", "salesforce: Nope"), lines_object="Nope")
    )


def test_a_date_into_a_number_is_an_error_and_long_text_a_warning():
    text = CUSTOMERS + "      - {quickbooks: MetaData.CreateTime, salesforce: AccountNumber}\n"
    text += "      - {quickbooks: Notes, salesforce: Fax}\n"
    text += "      - {quickbooks: OpenBalanceDate, salesforce: QBO_Balance__c2}\n"
    found = check(text.replace("QBO_Balance__c2", "Phone"))
    assert "fields[3]: Notes holds up to 2000 characters; Fax keeps 40, longer values are " in (
        " ".join(messages(found, WARNING))
    )
    invoice = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: quickbooks_to_salesforce
    fields:
      - {quickbooks: TxnDate, salesforce: Amount}
"""
    assert (
        "fields[0]: TxnDate (date) into Opportunity.Amount (number): the types do not fit"
        in messages(check(invoice), ERROR)
    )


@pytest.mark.parametrize(
    ("source", "target", "verdict"),
    [
        ("date", "decimal", ERROR),
        ("decimal", "date", ERROR),
        ("string", "decimal", WARNING),
        ("datetime", "date", WARNING),
        ("date", "datetime", None),
        ("decimal", "string", None),
        ("decimal", "integer", WARNING),
        ("string", "id", ERROR),
        ("id", "string", None),
        ("boolean", "decimal", ERROR),
    ],
)
def test_type_compatibility(source, target, verdict):
    assert compatibility(source, target) == verdict


def test_a_reference_needs_a_lookup():
    text = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: quickbooks_to_salesforce
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId}
"""
    assert any(
        "links records: choose the mapping to look the id up in" in m
        for m in messages(check(text), ERROR)
    )
    looked_up = text.replace("salesforce: AccountId}", "salesforce: AccountId, lookup: customers}")
    assert not any(p.where == "fields[0]" for p in check(looked_up))


def test_the_external_id_must_exist_and_be_an_external_id():
    assert "external_id: Account has no field Nope__c for the external id" in messages(
        check(CUSTOMERS.replace("on_delete", "external_id: Nope__c\n    on_delete"))
    )
    assert "external_id: Account.Email__c is not marked External ID in Salesforce" in messages(
        check(CUSTOMERS.replace("on_delete", "external_id: Email__c\n    on_delete"))
    )


def test_fields_that_do_not_exist_or_cannot_be_written_are_errors():
    text = CUSTOMERS + "      - {quickbooks: Notes, salesforce: LastModifiedDate}\n"
    text += "      - {quickbooks: GivenName, salesforce: Nickname__c}\n"
    text += (
        "      - {quickbooks: Balance, salesforce: Description, "
        "direction: salesforce_to_quickbooks}\n"
    )
    found = messages(check(text), ERROR)
    assert "fields[2]: Account.LastModifiedDate is read-only in Salesforce" in found
    assert "fields[3]: Account has no field Nickname__c" in found
    assert "fields[4]: Balance is computed by QuickBooks and cannot be written" in found
    assert "on_delete: Account has no field Gone__c" in messages(
        check(CUSTOMERS.replace("QBO_Deleted__c", "Gone__c"))
    )
    assert "on_delete: Email__c is a email field; the delete flag must be a checkbox" in messages(
        check(CUSTOMERS.replace("QBO_Deleted__c", "Email__c"))
    )


def test_an_object_missing_from_the_org_and_an_empty_mapping_are_errors():
    text = "mappings:\n  - {name: x, quickbooks: Customer, salesforce: Widget__c}\n"
    assert messages(check(text), ERROR) == [
        "salesforce: the Salesforce org has no object Widget__c",
        "fields: no fields are mapped yet",
        "fields: required QuickBooks Customer.DisplayName is not mapped or given a default",
    ]


def test_a_required_custom_field_added_to_the_org_is_noticed():
    OBJECTS["Account"].fields["Region__c"] = new_field(
        {"name": "Region__c", "type": "picklist", "required": True}
    )
    try:
        assert "fields: required Salesforce field Account.Region__c is not mapped or given a " in (
            " ".join(messages(check(CUSTOMERS), ERROR))
        )
    finally:
        del OBJECTS["Account"].fields["Region__c"]


def test_the_catalogue_knows_types_and_ignores_array_indexes():
    assert qbo_fields.find("Invoice", "Line.0.Amount") is None
    assert qbo_fields.find("Invoice", "SalesItemLineDetail.Qty", lines=True).kind == "decimal"
    assert qbo_fields.find("Customer", "DisplayName").required
    assert qbo_fields.find("Customer", "Balance").read_only
    assert "Invoice" in qbo_fields.LINE_ENTITIES and "Customer" not in qbo_fields.LINE_ENTITIES
    assert (
        qbo_fields.name_field("Item") == "Name" and qbo_fields.name_field("Invoice") == "DocNumber"
    )


def test_auto_map_pairs_by_name_and_known_pairs_only_when_types_fit():
    rules = automap.auto_map("Customer", describe("Account"), "QBO_Id__c")
    pairs = {(r["quickbooks"], r["salesforce"]): r.get("direction") for r in rules}
    assert pairs[("DisplayName", "Name")] is None
    assert pairs[("Balance", "QBO_Balance__c")] == "quickbooks_to_salesforce"
    assert ("BillAddr.City", "BillingCity") in pairs
    assert ("PrimaryEmailAddr.Address", "Email__c") in pairs
    assert not any(sf in ("QBO_Id__c", "Id", "CreatedDate") for _, sf in pairs)
    assert len({sf for _, sf in pairs}) == len(pairs)  # each Salesforce field once
    # Towards QuickBooks only, a field QuickBooks computes is not proposed.
    inward = automap.auto_map(
        "Customer", describe("Account"), "QBO_Id__c", "salesforce_to_quickbooks"
    )
    assert all(r["quickbooks"] != "Balance" for r in inward)
    # And what it proposes passes the check.
    spec = {
        **spec_of("mappings:\n  - {name: c, quickbooks: Customer, salesforce: Account}\n"),
        "fields": rules,
    }
    assert mapping_check.is_complete(mapping_check.problems(spec, describe("Account")))
