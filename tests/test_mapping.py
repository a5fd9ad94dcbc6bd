import copy
import json
from decimal import Decimal

import pytest

from gateway.mapping import (
    MappingError,
    Reference,
    UnresolvedReference,
    clean_quickbooks_record,
    get_path,
    match_criteria,
    payload_hash,
    references,
    set_path,
    to_quickbooks,
    to_salesforce,
)
from tests.test_sync_config import CUSTOMERS as SKETCH_CUSTOMERS
from tests.test_sync_config import INVOICES as SKETCH_INVOICES

Q2S = "quickbooks_to_salesforce"
S2Q = "salesforce_to_quickbooks"

# The design sketch's mappings, with one more value-map entry and two more invoice fields.
CUSTOMERS = copy.deepcopy(SKETCH_CUSTOMERS)
CUSTOMERS["fields"][3]["values"]["2"] = "Partner"
INVOICES = copy.deepcopy(SKETCH_INVOICES)
INVOICES["fields"] += [
    {"quickbooks": "TxnDate", "salesforce": "CloseDate", "direction": "both", "type": "date"},
    {"quickbooks": "Line.0.Amount", "salesforce": "First_Line__c", "direction": "both"},
]

# Real QBO read responses (LedgerSync's test fixtures), as the API returns them.
CUSTOMER = {
    "Taxable": True,
    "Job": False,
    "BillWithParent": False,
    "Balance": 0,
    "BalanceWithJobs": 0,
    "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
    "PreferredDeliveryMethod": "Print",
    "domain": "QBO",
    "sparse": False,
    "Id": "123",
    "SyncToken": "0",
    "MetaData": {
        "CreateTime": "2019-07-11T13:04:17-07:00",
        "LastUpdatedTime": "2019-07-11T13:04:17-07:00",
    },
    "FullyQualifiedName": "Sample Customer",
    "DisplayName": "Sample Customer",
    "PrintOnCheckName": "Sample Customer",
    "Active": True,
    "PrimaryEmailAddr": {"Address": "test@example.com"},
    "DefaultTaxCodeRef": {"value": "2"},
}

INVOICE = {
    "Deposit": 0,
    "AllowIPNPayment": False,
    "AllowOnlinePayment": False,
    "AllowOnlineCreditCardPayment": False,
    "AllowOnlineACHPayment": False,
    "domain": "QBO",
    "sparse": False,
    "Id": "173",
    "SyncToken": "0",
    "MetaData": {
        "CreateTime": "2020-01-15T06:25:44-08:00",
        "LastUpdatedTime": "2020-01-15T06:25:44-08:00",
    },
    "CustomField": [{"DefinitionId": "1", "Type": "StringType"}],
    "DocNumber": "1040",
    "TxnDate": "2019-09-01",
    "CurrencyRef": {"value": "USD", "name": "United States Dollar"},
    "PrivateNote": "Memo 1",
    "LinkedTxn": [],
    "Line": [
        {
            "Id": "1",
            "LineNum": 1,
            "Description": "Test Item",
            "Amount": 1.5,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {
                "ItemRef": {"value": "33", "name": "Services"},
                "TaxCodeRef": {"value": "NON"},
            },
        },
        {"Amount": 1.5, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}},
    ],
    "CustomerRef": {"value": "83", "name": "Lola"},
    "DueDate": "2019-09-01",
    "TotalAmt": 1.5,
    "ApplyTaxAfterDiscount": False,
    "PrintStatus": "NeedToPrint",
    "EmailStatus": "NotSet",
    "Balance": 1.5,
}


def read_customer() -> dict:
    return copy.deepcopy(CUSTOMER)


def read_invoice() -> dict:
    return copy.deepcopy(INVOICE)


def one_field(**field) -> dict:
    return {"name": "m", "direction": "both", "fields": [{"direction": "both", **field}]}


# --- paths -------------------------------------------------------------------------------------


def test_get_path_walks_dicts_and_list_indexes():
    record = {"BillAddr": {"City": "Oslo"}, "Line": [{"Amount": 1.5}, {"Amount": 2}]}
    assert get_path(record, "BillAddr.City") == "Oslo"
    assert get_path(record, "Line.1.Amount") == 2
    assert get_path(record, "Line.2.Amount") is None
    assert get_path(record, "BillAddr.Street.Line1") is None
    assert get_path(record, "BillAddr.City.Length") is None
    assert get_path(record, "Line.first") is None


def test_set_path_creates_dicts_and_lists():
    body: dict = {"BillAddr": {"Line1": "1 Main St"}}
    set_path(body, "BillAddr.City", "Oslo")
    set_path(body, "Line.1.Amount", 2)
    set_path(body, "Line.0.Amount", 1)
    set_path(body, "CustomerRef.value", "83")
    assert body == {
        "BillAddr": {"Line1": "1 Main St", "City": "Oslo"},
        "Line": [{"Amount": 1}, {"Amount": 2}],
        "CustomerRef": {"value": "83"},
    }


# --- " (deleted)" ------------------------------------------------------------------------------


def test_inactive_record_loses_the_deleted_suffix_without_touching_the_input():
    record = {"Active": False, "DisplayName": "Acme (deleted)",
              "FullyQualifiedName": "Acme (deleted)", "Notes": "x (deleted)"}  # fmt: skip
    cleaned = clean_quickbooks_record(record)
    assert cleaned["DisplayName"] == "Acme"
    assert cleaned["FullyQualifiedName"] == "Acme"
    assert cleaned["Notes"] == "x (deleted)"
    assert record["DisplayName"] == "Acme (deleted)"


def test_active_record_keeps_a_name_that_really_ends_in_deleted():
    record = {"Active": True, "DisplayName": "Files (deleted)"}
    assert clean_quickbooks_record(record)["DisplayName"] == "Files (deleted)"


def test_to_salesforce_syncs_the_name_of_an_inactive_customer_without_suffix():
    customer = read_customer()
    customer.update(Active=False, DisplayName="Sample Customer (deleted)")
    assert to_salesforce(customer, CUSTOMERS, {})["Name"] == "Sample Customer"


# --- QuickBooks -> Salesforce ------------------------------------------------------------------


def test_real_customer_maps_to_account_fields():
    customer = read_customer()
    assert to_salesforce(customer, CUSTOMERS, {}) == {
        "Name": "Sample Customer",
        "BillingCity": None,  # absent in QBO: clears the Salesforce field
        "QBO_Balance__c": 0,
        "Type": "Other",  # no CustomerTypeRef: the default
    }


def test_real_invoice_maps_with_its_customer_resolved():
    invoice = read_invoice()
    payload = to_salesforce(invoice, INVOICES, {("customers", "83"): "001000000000083AAA"})
    assert payload == {
        "AccountId": "001000000000083AAA",
        "Amount": 1.5,
        "CloseDate": "2019-09-01",
        "First_Line__c": 1.5,
    }


def test_unresolved_lookup_lists_every_reference():
    invoice = read_invoice()
    expected = Reference("customers", "83", "CustomerRef.value")
    assert references(invoice, INVOICES, Q2S) == [expected]
    with pytest.raises(UnresolvedReference) as caught:
        to_salesforce(invoice, INVOICES, {("customers", "84"): "001x"})
    assert caught.value.references == [expected]
    assert isinstance(caught.value, MappingError)
    assert "customers 83" in str(caught.value)


def test_missing_lookup_value_is_no_reference_and_clears_the_field():
    invoice = {"TotalAmt": 10}
    assert references(invoice, INVOICES, Q2S) == []
    assert to_salesforce(invoice, INVOICES, {})["AccountId"] is None


def test_numeric_ids_are_compared_as_text():
    invoice = {"CustomerRef": {"value": 83}}
    assert references(invoice, INVOICES, Q2S)[0].source_id == "83"
    assert to_salesforce(invoice, INVOICES, {("customers", "83"): "001A"})["AccountId"] == "001A"


def test_value_map_and_default_towards_salesforce():
    def account_type(value):
        return to_salesforce({"DisplayName": "A", "CustomerTypeRef": value}, CUSTOMERS, {})["Type"]

    assert account_type({"value": "1"}) == "Direct"
    assert account_type({"value": 2}) == "Partner"  # a number finds the string key
    assert account_type({"value": "7"}) == "Other"  # no entry: the default
    assert account_type({"value": None}) == "Other"
    assert account_type(None) == "Other"


def test_value_map_and_default_towards_quickbooks():
    def customer_type(value):
        return to_quickbooks({"Name": "A", "Type": value}, CUSTOMERS, {})["CustomerTypeRef"]

    assert customer_type("Partner") == {"value": "2"}
    # "Other" is the Salesforce-side default; it has no QuickBooks value, so nothing is sent.
    assert customer_type("Reseller") == {"value": None}
    mapping = one_field(quickbooks="Terms", salesforce="Terms__c",
                        values={"1": "Net 30", "9": "Other"}, default="Other")  # fmt: skip
    assert to_quickbooks({"Terms__c": "Weekly"}, mapping, {}) == {"Terms": "9"}


def test_required_field_missing_names_every_field():
    mapping = {
        "name": "m",
        "direction": "both",
        "fields": [
            {"quickbooks": "DisplayName", "salesforce": "Name", "direction": "both",
             "required": True},
            {"quickbooks": "PrimaryPhone.FreeFormNumber", "salesforce": "Phone",
             "direction": "both", "required": True},
            {"quickbooks": "Notes", "salesforce": "Description", "direction": "both"},
        ],
    }  # fmt: skip
    with pytest.raises(MappingError) as caught:
        to_salesforce({"DisplayName": "  "}, mapping, {})
    assert str(caught.value) == (
        "required field missing: DisplayName → Name; "
        "required field missing: PrimaryPhone.FreeFormNumber → Phone"
    )
    assert caught.value.fields == ["DisplayName → Name", "PrimaryPhone.FreeFormNumber → Phone"]
    assert not isinstance(caught.value, UnresolvedReference)


def test_default_fills_a_required_field_first():
    mapping = one_field(quickbooks="DisplayName", salesforce="Name", required=True, default="?")
    assert to_salesforce({}, mapping, {}) == {"Name": "?"}
    assert to_quickbooks({"Name": None}, mapping, {}) == {"DisplayName": "?"}


def test_permanent_problem_wins_over_unresolved_lookup():
    mapping = {**INVOICES, "fields": [*INVOICES["fields"], {"quickbooks": "DocNumber",
               "salesforce": "Name", "direction": "both", "required": True}]}  # fmt: skip
    with pytest.raises(MappingError) as caught:
        to_salesforce({"CustomerRef": {"value": "83"}}, mapping, {})
    assert not isinstance(caught.value, UnresolvedReference)
    assert caught.value.fields == ["DocNumber → Name"]


def test_direction_decides_which_fields_flow():
    customer = {"DisplayName": "Acme", "Balance": 12.5}
    assert "QBO_Balance__c" in to_salesforce(customer, CUSTOMERS, {})
    body = to_quickbooks({"Name": "Acme", "QBO_Balance__c": 99}, CUSTOMERS, {})
    assert "Balance" not in body
    one_way = one_field(quickbooks="Notes", salesforce="Description", direction=S2Q)
    assert to_salesforce({"Notes": "x"}, one_way, {}) == {}
    assert to_quickbooks({"Description": "x"}, one_way, {}) == {"Notes": "x"}


# --- coercion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.30", 0.3),
        (0.1, 0.1),
        (Decimal("19.99"), 19.99),
        ("1234567.89", 1234567.89),
        (100.00, 100),
        ("-0.00", 0),
        (7, 7),
    ],
)
def test_decimal_keeps_money_exact(value, expected):
    mapping = one_field(quickbooks="TotalAmt", salesforce="Amount", type="decimal")
    amount = to_salesforce({"TotalAmt": value}, mapping, {})["Amount"]
    assert amount == expected
    assert type(amount) is type(expected)
    assert json.dumps(amount) == json.dumps(expected)  # never 0.30000000000000004


@pytest.mark.parametrize(
    ("kind", "value"),
    [("decimal", "12,50"), ("decimal", True), ("decimal", "NaN"), ("integer", "1.5"),
     ("boolean", "maybe"), ("date", "24/07/2015"), ("datetime", 1437760419),
     ("string", {"value": "1"})],
)  # fmt: skip
def test_uncoercible_value_names_field_and_value(kind, value):
    mapping = one_field(quickbooks="Src", salesforce="Dst__c", type=kind)
    with pytest.raises(MappingError) as caught:
        to_salesforce({"Src": value}, mapping, {})
    assert str(caught.value) == f"Src → Dst__c: cannot convert {value!r} to {kind}"
    assert caught.value.fields == ["Src → Dst__c"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2015-10-05T14:42:19-0700", "2015-10-05T21:42:19.000+0000"),
        ("2015-07-24T10:33:39-07:00", "2015-07-24T17:33:39.000+0000"),
        ("2015-07-24T10:33:39Z", "2015-07-24T10:33:39.000+0000"),
        ("2015-07-24T10:33:39.5+02:00", "2015-07-24T08:33:39.500+0000"),
        ("2020-01-15T06:25:44.543-08:00", "2020-01-15T14:25:44.543+0000"),
        ("2015-07-24T23:30:00-07:00", "2015-07-25T06:30:00.000+0000"),  # crosses midnight
        ("2015-07-24", "2015-07-24T00:00:00.000+0000"),
    ],
)
def test_datetime_to_salesforce_is_utc_with_milliseconds(value, expected):
    mapping = one_field(quickbooks="MetaData.LastUpdatedTime", salesforce="Seen__c")
    payload = to_salesforce(
        {"MetaData": {"LastUpdatedTime": value}}, mapping, {}, {"Seen__c": "datetime"}
    )
    assert payload == {"Seen__c": expected}


def test_datetime_and_date_to_quickbooks():
    mapping = {"name": "m", "direction": "both", "fields": [
        {"quickbooks": "TxnDate", "salesforce": "CloseDate", "direction": "both"},
        {"quickbooks": "When", "salesforce": "When__c", "direction": "both"},
    ]}  # fmt: skip
    record = {"CloseDate": "2015-07-24T23:30:00.000+0000", "When__c": "2015-07-24T17:33:39.250Z"}
    body = to_quickbooks(record, mapping, {}, {"CloseDate": "date", "When__c": "datetime"})
    assert body == {"TxnDate": "2015-07-24", "When": "2015-07-24T17:33:39Z"}


def test_date_keeps_the_day_as_written_in_quickbooks():
    mapping = one_field(quickbooks="Created", salesforce="Created__c", type="date")
    payload = to_salesforce({"Created": "2015-07-24T23:30:00-07:00"}, mapping, {})
    assert payload == {"Created__c": "2015-07-24"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("true", True), ("FALSE", False), (1, True), (0, False), ("0", False)],
)
def test_boolean_coercion(value, expected):
    mapping = one_field(quickbooks="Taxable", salesforce="Taxable__c")
    assert to_salesforce({"Taxable": value}, mapping, {}, {"Taxable__c": "boolean"}) == {
        "Taxable__c": expected
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, "1"), (1.5, "1.5"), (Decimal("1.50"), "1.50"), (True, "true"), ("Acme", "Acme")],
)
def test_string_coercion(value, expected):
    mapping = one_field(quickbooks="DocNumber", salesforce="Name")
    assert to_salesforce({"DocNumber": value}, mapping, {}, {"Name": "string"}) == {
        "Name": expected
    }


def test_integer_coercion_and_explicit_type_beats_describe_type():
    mapping = one_field(quickbooks="Qty", salesforce="Qty__c", type="integer")
    assert to_salesforce({"Qty": "12.0"}, mapping, {}, {"Qty__c": "string"}) == {"Qty__c": 12}


def test_unknown_describe_types_and_no_types_pass_values_through():
    mapping = one_field(quickbooks="Qty", salesforce="Qty__c")
    assert to_salesforce({"Qty": "12.0"}, mapping, {}, {"Qty__c": "time"}) == {"Qty__c": "12.0"}
    assert to_salesforce({"Qty": "12.0"}, mapping, {}, {"Other": "int"}) == {"Qty__c": "12.0"}
    assert to_salesforce({"Qty": 12.5}, mapping, {}) == {"Qty__c": 12.5}


def test_currency_describe_type_turns_text_money_into_a_number():
    mapping = one_field(quickbooks="Balance", salesforce="QBO_Balance__c")
    payload = to_salesforce({"Balance": "1200.10"}, mapping, {}, {"QBO_Balance__c": "currency"})
    assert payload == {"QBO_Balance__c": 1200.1}


# --- Salesforce -> QuickBooks ------------------------------------------------------------------


def test_opportunity_to_nested_invoice_body():
    opportunity = {"Id": "006A", "AccountId": "001A", "Amount": 250.0, "CloseDate": "2024-02-29",
                   "First_Line__c": 250}  # fmt: skip
    body = to_quickbooks(opportunity, INVOICES, {("customers", "001A"): "83"},
                         {"Amount": "currency"})  # fmt: skip
    assert body == {
        "CustomerRef": {"value": "83"},
        "TotalAmt": 250,
        "TxnDate": "2024-02-29",
        "Line": [{"Amount": 250}],
    }
    assert references(opportunity, INVOICES, S2Q) == [Reference("customers", "001A", "AccountId")]
    with pytest.raises(UnresolvedReference):
        to_quickbooks(opportunity, INVOICES, {})


# --- match rules -------------------------------------------------------------------------------


def test_match_criteria_both_directions_skip_blank_values():
    customer = read_customer()
    assert match_criteria(customer, CUSTOMERS, Q2S) == [("Email__c", "test@example.com")]
    assert match_criteria({"Email__c": "a@b.c"}, CUSTOMERS, S2Q) == [
        ("PrimaryEmailAddr.Address", "a@b.c")
    ]
    assert match_criteria({"Email__c": " "}, CUSTOMERS, S2Q) == []
    assert match_criteria({"DisplayName": "x"}, CUSTOMERS, Q2S) == []


def test_match_criteria_uses_the_cleaned_name():
    mapping = {**CUSTOMERS, "match": [{"quickbooks": "DisplayName", "salesforce": "Name"}]}
    inactive = {"Active": False, "DisplayName": "Acme (deleted)"}
    assert match_criteria(inactive, mapping, Q2S) == [("Name", "Acme")]


def test_both_is_not_a_direction_to_map_in():
    with pytest.raises(ValueError, match="direction"):
        match_criteria({}, CUSTOMERS, "both")


# --- payload hash ------------------------------------------------------------------------------


def test_payload_hash_normalises_numbers_nulls_and_order():
    base = payload_hash({"Amount": 1, "Name": "Acme", "Line": [{"Qty": 2.50}]})
    assert payload_hash({"Name": "Acme", "Amount": 1.0, "Line": [{"Qty": Decimal("2.5")}]}) == base
    assert payload_hash({"Amount": Decimal("1.00"), "Name": "Acme", "Line": [{"Qty": "2.5"}],
                         "Phone": None}) == base  # fmt: skip
    assert len(base) == 64 and int(base, 16) >= 0


def test_payload_hash_sees_real_changes():
    base = payload_hash({"Amount": 1, "Name": "Acme", "Active": True})
    assert payload_hash({"Amount": 1.01, "Name": "Acme", "Active": True}) != base
    assert payload_hash({"Amount": 1, "Name": "acme", "Active": True}) != base
    assert payload_hash({"Amount": 1, "Name": "Acme", "Active": False}) != base
    assert payload_hash({"Amount": 1, "Name": "Acme", "Active": 1}) != base
    assert payload_hash({"Amount": 1, "Name": "Acme"}) != base


def test_mapping_the_same_content_twice_hashes_alike():
    customer = read_customer()
    echoed = {**customer, "SyncToken": "1", "Balance": 0.0}  # our own write coming back
    assert payload_hash(to_salesforce(customer, CUSTOMERS, {})) == payload_hash(
        to_salesforce(echoed, CUSTOMERS, {})
    )
