"""What the mappings pages add to gateway.mapping_check (the check Real-Time shares): where each
problem is, the QuickBooks field catalogue, read-only and reference fields, the delete flag, the
lines' parent lookup; and auto-map. All on the describe of the emulated org."""

from __future__ import annotations

from gateway import automap, mapping_check, qbo_fields, sync_config
from gateway.connectors.salesforce import trimmed_field
from tests.fakes.salesforce_schema import default_objects, new_field

OBJECTS = default_objects()


def describe(sobject: str) -> dict | None:
    found = OBJECTS.get(sobject)
    if found is None:
        return None
    return {
        name: mapping_check.salesforce_field(trimmed_field(field.describe()))
        for name, field in found.fields.items()
    }


def spec_of(text: str) -> dict:
    return sync_config.parse_config(text, known_mapping_names=["customers", "items"])[0]


def check(text: str) -> list[mapping_check.Problem]:
    return mapping_check.problems(spec_of(text), describe, qbo_fields.catalogue)


def located(found: list[mapping_check.Problem], blocking: bool | None = None) -> list[str]:
    return [f"{p.where}: {p.message}" for p in found if blocking in (None, p.blocking)]


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


def test_a_complete_mapping_has_only_the_catalogues_length_warning():
    assert located(check(CUSTOMERS)) == [
        "fields[0]: Customer → Account: DisplayName → Name: QuickBooks allows 500 characters, "
        "Salesforce keeps 255; longer values will fail."
    ]
    assert not mapping_check.blocking(check(CUSTOMERS))


def test_each_problem_says_where_it_is():
    text = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    external_id: Description
    fields:
      - {quickbooks: DocNumber, salesforce: Name}
      - {quickbooks: TxnDate, salesforce: Amount}
    lines:
      salesforce: Product2
      parent_field: Nope
      fields:
        - {quickbooks: SalesItemLineDetail.ServiceDate, salesforce: IsActive}
"""
    wheres = {p.where for p in mapping_check.blocking(check(text))}
    assert {
        "external_id",
        "fields",
        "fields[1]",
        "lines.parent_field",
        "lines.fields[0]",
    } <= wheres


def test_a_field_quickbooks_computes_cannot_be_written_to_it():
    text = CUSTOMERS.replace("direction: quickbooks_to_salesforce", "direction: both")
    assert located(check(text), blocking=True) == [
        "fields[1]: Customer → Account: Balance is computed by QuickBooks and cannot be written; "
        "make the field flow to Salesforce only."
    ]


def test_read_only_and_reference_salesforce_fields():
    text = CUSTOMERS + "      - {quickbooks: Notes, salesforce: LastModifiedDate}\n"
    assert (
        "fields[2]: Customer → Account: Account.LastModifiedDate is read-only in Salesforce."
        in (located(check(text), blocking=True))
    )
    invoice = """
mappings:
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: quickbooks_to_salesforce
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId}
"""
    assert (
        "fields[0]: Invoice → Opportunity: Opportunity.AccountId links to another record: choose "
        "the mapping to look the id up in." in located(check(invoice), blocking=True)
    )
    looked_up = invoice.replace(
        "salesforce: AccountId}", "salesforce: AccountId, lookup: customers}"
    )
    assert not [p for p in check(looked_up) if p.where == "fields[0]"]


def test_the_delete_flag_must_be_a_checkbox_that_exists():
    assert located(check(CUSTOMERS.replace("QBO_Deleted__c", "Email__c")), blocking=True) == [
        "on_delete: Customer → Account: the delete flag Account.Email__c is a email field, not a "
        "checkbox."
    ]
    assert located(check(CUSTOMERS.replace("QBO_Deleted__c", "Gone__c")), blocking=True) == [
        "on_delete: Customer → Account: the delete flag Account.Gone__c does not exist."
    ]


def test_a_value_map_is_not_type_checked():
    text = CUSTOMERS + (
        "      - {quickbooks: Taxable, salesforce: Type, values: {'true': Other}, "
        "direction: quickbooks_to_salesforce}\n"
    )
    assert not [p for p in check(text) if p.where == "fields[2]"]


def test_a_required_custom_field_added_to_the_org_is_noticed():
    OBJECTS["Account"].fields["Region__c"] = new_field(
        {"name": "Region__c", "type": "picklist", "required": True}
    )
    try:
        assert any(p.field == "Region__c" for p in mapping_check.blocking(check(CUSTOMERS)))
    finally:
        del OBJECTS["Account"].fields["Region__c"]


def test_the_catalogue():
    assert qbo_fields.catalogue("Customer", "Balance") == qbo_fields.QuickBooksField(
        "decimal", None, True
    )
    assert qbo_fields.catalogue("Customer", "DisplayName").max_length == 500
    assert qbo_fields.catalogue("Invoice", "CustomerRef.value").type == "string"  # an id
    assert qbo_fields.catalogue("Invoice", "Line") is None
    assert qbo_fields.catalogue("Invoice.Line", "SalesItemLineDetail.Qty").type == "decimal"
    assert qbo_fields.catalogue("Customer.Line", "SalesItemLineDetail.Qty") is None
    assert qbo_fields.catalogue("Invoice", "Line.0.Amount") is None
    assert qbo_fields.catalogue("Widget", "Name") is None
    assert "Invoice" in qbo_fields.LINE_ENTITIES and "Customer" not in qbo_fields.LINE_ENTITIES
    assert qbo_fields.name_field("Item") == "Name"
    assert qbo_fields.name_field("Invoice") == "DocNumber"
    # Every entity that must have a field on create has that field in the catalogue.
    for entity in qbo_fields.supported_entities():
        for path in mapping_check.REQUIRED_QUICKBOOKS_FIELDS.get(entity, ()):
            assert qbo_fields.find(entity, path) is not None, (entity, path)


def test_auto_map_pairs_by_name_and_known_pairs_only_when_types_fit():
    account = {name: trimmed_field(f.describe()) for name, f in OBJECTS["Account"].fields.items()}
    rules = automap.auto_map("Customer", account, "QBO_Id__c")
    pairs = {(r["quickbooks"], r["salesforce"]): r.get("direction") for r in rules}
    assert pairs[("DisplayName", "Name")] is None
    assert pairs[("Balance", "QBO_Balance__c")] == "quickbooks_to_salesforce"
    assert ("BillAddr.City", "BillingCity") in pairs
    assert ("PrimaryEmailAddr.Address", "Email__c") in pairs
    assert not any(sf in ("QBO_Id__c", "Id", "CreatedDate") for _, sf in pairs)
    assert len({sf for _, sf in pairs}) == len(pairs)  # each Salesforce field once
    # Towards QuickBooks only, a field QuickBooks computes is not proposed.
    inward = automap.auto_map("Customer", account, "QBO_Id__c", "salesforce_to_quickbooks")
    assert all(r["quickbooks"] != "Balance" for r in inward)
    # What it proposes passes the check (warnings aside).
    spec = {
        **spec_of("mappings:\n  - {name: c, quickbooks: Customer, salesforce: Account}\n"),
        "fields": rules,
    }
    assert not mapping_check.blocking(mapping_check.problems(spec, describe, qbo_fields.catalogue))
