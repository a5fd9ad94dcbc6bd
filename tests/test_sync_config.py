import json
import textwrap

import pytest
import yaml

from gateway.sync_config import ConfigError, dump_config, merge_mappings, parse_config

# The sketch from design.md §4, verbatim.
DESIGN_SKETCH = """\
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: both              # quickbooks_to_salesforce | salesforce_to_quickbooks | both
    realtime: true               # the Real-Time Configuration toggle
    external_id: QBO_Id__c       # Salesforce external-id field; values are company-qualified
    on_delete: flag:QBO_Deleted__c   # delete | flag:<checkbox field> | ignore
    match: [{quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}]
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
      - {quickbooks: CustomerTypeRef.value, salesforce: Type, values: {"1": "Direct"}, default: Other}
  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
      - {quickbooks: TotalAmt, salesforce: Amount}
"""  # noqa: E501

CUSTOMERS = {
    "name": "customers",
    "quickbooks": "Customer",
    "salesforce": "Account",
    "direction": "both",
    "realtime": True,
    "external_id": "QBO_Id__c",
    "on_delete": "flag:QBO_Deleted__c",
    "match": [{"quickbooks": "PrimaryEmailAddr.Address", "salesforce": "Email__c"}],
    "fields": [
        {"quickbooks": "DisplayName", "salesforce": "Name", "direction": "both", "required": True},
        {"quickbooks": "BillAddr.City", "salesforce": "BillingCity", "direction": "both"},
        {"quickbooks": "Balance", "salesforce": "QBO_Balance__c",
         "direction": "quickbooks_to_salesforce"},
        {"quickbooks": "CustomerTypeRef.value", "salesforce": "Type", "direction": "both",
         "values": {"1": "Direct"}, "default": "Other"},
    ],
}  # fmt: skip

INVOICES = {
    "name": "invoices",
    "quickbooks": "Invoice",
    "salesforce": "Opportunity",
    "direction": "both",
    "realtime": False,
    "external_id": "QBO_Id__c",
    "on_delete": "ignore",
    "match": [],
    "fields": [
        {"quickbooks": "CustomerRef.value", "salesforce": "AccountId", "direction": "both",
         "lookup": "customers"},
        {"quickbooks": "TotalAmt", "salesforce": "Amount", "direction": "both"},
    ],
}  # fmt: skip

# What export writes for the sketch: every mapping key, field keys only where not default.
SKETCH_EXPORT = """\
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    direction: both
    realtime: true
    external_id: QBO_Id__c
    on_delete: flag:QBO_Deleted__c
    match:
      - {quickbooks: PrimaryEmailAddr.Address, salesforce: Email__c}
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
      - {quickbooks: BillAddr.City, salesforce: BillingCity}
      - {quickbooks: Balance, salesforce: QBO_Balance__c, direction: quickbooks_to_salesforce}
      - {quickbooks: CustomerTypeRef.value, salesforce: Type, values: {'1': Direct}, default: Other}

  - name: invoices
    quickbooks: Invoice
    salesforce: Opportunity
    direction: both
    realtime: false
    external_id: QBO_Id__c
    on_delete: ignore
    match: []
    fields:
      - {quickbooks: CustomerRef.value, salesforce: AccountId, lookup: customers}
      - {quickbooks: TotalAmt, salesforce: Amount}
"""


def errors_of(text: str, known: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, known)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


def config(body: str) -> str:
    """A one-mapping file whose mapping body is ``body`` (its first line is line 4)."""
    return "mappings:\n  - name: customers\n    quickbooks: Customer\n" + textwrap.indent(
        textwrap.dedent(body), "    "
    )


# --- parsing -----------------------------------------------------------------------------------


def test_design_sketch_parses_to_normalized_mappings():
    assert parse_config(DESIGN_SKETCH) == [CUSTOMERS, INVOICES]


def test_json_is_accepted():
    assert parse_config(json.dumps({"mappings": [INVOICES, CUSTOMERS]})) == [INVOICES, CUSTOMERS]


def test_minimal_mapping_gets_every_default():
    text = "mappings:\n  - {name: items, quickbooks: Item, salesforce: Product2}\n"
    assert parse_config(text) == [
        {"name": "items", "quickbooks": "Item", "salesforce": "Product2", "direction": "both",
         "realtime": False, "external_id": "QBO_Id__c", "on_delete": "ignore", "match": [],
         "fields": []},
    ]  # fmt: skip


def test_field_direction_defaults_to_the_mapping_direction():
    text = config("""\
        salesforce: Account
        direction: quickbooks_to_salesforce
        fields:
          - {quickbooks: DisplayName, salesforce: Name, required: false}
        """)
    [mapping] = parse_config(text)
    assert mapping["fields"] == [
        {"quickbooks": "DisplayName", "salesforce": "Name", "direction": "quickbooks_to_salesforce"}
    ]


def test_value_map_keys_become_strings_and_values_keep_their_type():
    text = config("""\
        salesforce: Account
        fields:
          - quickbooks: Taxable
            salesforce: Tax_Status__c
            direction: quickbooks_to_salesforce
            values: {true: Taxable, false: Exempt, 1: 1, 2.50: 0.5, "007": "x"}
            default: 2024-01-31
        """)
    [field] = parse_config(text)[0]["fields"]
    assert field["values"] == {"true": "Taxable", "false": "Exempt", "1": 1, "2.5": 0.5, "007": "x"}
    assert field["default"] == "2024-01-31"  # a YAML date stays text: the database stores JSON


def test_lookup_may_name_a_mapping_that_is_already_in_the_database():
    text = config("""\
        salesforce: Account
        fields:
          - {quickbooks: ParentRef.value, salesforce: ParentId, lookup: vendors}
        """)
    assert (
        parse_config(text, known_mapping_names=["vendors"])[0]["fields"][0]["lookup"] == "vendors"
    )
    assert errors_of(text) == [
        "line 6: mappings[0].fields[0].lookup: 'vendors' is not the name of a mapping in this "
        "file or the database"
    ]


def test_merge_keys_and_anchors_are_understood():
    text = textwrap.dedent("""\
        mappings:
          - &customers {name: customers, quickbooks: Customer, salesforce: Account}
          - <<: *customers
            name: vendors
            quickbooks: Vendor
        """)
    assert [(m["name"], m["quickbooks"], m["salesforce"]) for m in parse_config(text)] == [
        ("customers", "Customer", "Account"),
        ("vendors", "Vendor", "Account"),
    ]


def test_required_with_default_is_allowed():
    text = config("""\
        salesforce: Account
        fields:
          - {quickbooks: DisplayName, salesforce: Name, required: true, default: Unnamed}
        """)
    field = parse_config(text)[0]["fields"][0]
    assert field["required"] is True and field["default"] == "Unnamed"


# --- errors ------------------------------------------------------------------------------------


def test_invalid_direction_message_names_line_and_path():
    text = config("""\
        salesforce: Account
        fields:
          - {quickbooks: DisplayName, salesforce: Name}
          - {quickbooks: Balance, salesforce: QBO_Balance__c}
          - {quickbooks: Notes, salesforce: Description, direction: sideways}
        """)
    assert errors_of(text) == [
        "line 8: mappings[0].fields[2].direction: 'sideways' is not one of "
        "quickbooks_to_salesforce, salesforce_to_quickbooks, both"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "salesforce: Account\ndirecton: both\n",
            "line 5: mappings[0]: unknown key 'directon' (did you mean 'direction'?)",
            id="unknown-key",
        ),
        pytest.param(
            "direction: both\n",
            "line 2: mappings[0]: missing required key 'salesforce'",
            id="missing-key",
        ),
        pytest.param(
            "salesforce: Account\nrealtime: 'yes'\n",
            "line 5: mappings[0].realtime: expected true, false or a list of realm ids, got 'yes'",
            id="wrong-type",
        ),
        pytest.param(
            "salesforce: [Account]\n",
            "line 4: mappings[0].salesforce: expected text, got a list",
            id="list-for-text",
        ),
        pytest.param(
            "salesforce: Account\non_delete: flag\n",
            "line 5: mappings[0].on_delete: 'flag' is not one of ignore, delete, "
            "flag:<checkbox field>",
            id="on-delete",
        ),
        pytest.param(
            "salesforce: Account\nfields:\n  - {quickbooks: Notes, salesforce: Description__c, "
            "type: text}\n",
            "line 6: mappings[0].fields[0].type: 'text' is not one of string, decimal, integer, "
            "boolean, date, datetime",
            id="type-enum",
        ),
        pytest.param(
            "salesforce: Account\ndirection: quickbooks_to_salesforce\nfields:\n"
            "  - {quickbooks: Notes, salesforce: Description, direction: both}\n",
            "line 7: mappings[0].fields[0].direction: 'both' is not allowed in a mapping whose "
            "direction is quickbooks_to_salesforce",
            id="incompatible-direction",
        ),
        pytest.param(
            "salesforce: Account\nfields:\n  - {quickbooks: DisplayName, salesforce: Name}\n"
            "  - {quickbooks: CompanyName, salesforce: Name}\n",
            "line 7: mappings[0].fields[1].salesforce: 'Name' is already written by fields[0] "
            "(quickbooks_to_salesforce)",
            id="duplicate-target",
        ),
        pytest.param(
            "salesforce: Account\nfields:\n  - {quickbooks: Id, salesforce: QBO_Id__c}\n",
            "line 6: mappings[0].fields[0].salesforce: 'QBO_Id__c' is already written by the "
            "gateway, as the external_id (quickbooks_to_salesforce)",
            id="external-id-target",
        ),
        pytest.param(
            "salesforce: Account\nfields:\n  - {quickbooks: CustomerTypeRef.value, "
            "salesforce: Type, values: {'1': Direct, '2': Direct}}\n",
            "line 6: mappings[0].fields[0].values.2: 'Direct' is also the value of '1', so "
            "salesforce_to_quickbooks cannot tell them apart (make the field "
            "quickbooks_to_salesforce)",
            id="values-not-invertible",
        ),
        pytest.param(
            "salesforce: Account\nfields:\n  - {quickbooks: Line..Amount, salesforce: X__c}\n",
            "line 6: mappings[0].fields[0].quickbooks: 'Line..Amount' is not a QuickBooks field "
            "path like BillAddr.City",
            id="bad-path",
        ),
        pytest.param(
            "salesforce: Billing Account\n",
            "line 4: mappings[0].salesforce: 'Billing Account' is not a Salesforce object API name",
            id="bad-object",
        ),
        pytest.param(
            "salesforce: Account\nfields:\n  - {quickbooks: Notes, salesforce: Description, "
            "default: null}\n",
            "line 6: mappings[0].fields[0].default: expected text, a number or true/false, "
            "got null",
            id="null-default",
        ),
        pytest.param(
            "salesforce: Account\nsalesforce: Contact\n",
            "line 5: mappings[0]: key 'salesforce' appears twice",
            id="duplicate-key",
        ),
        pytest.param(
            "salesforce: Account\nmatch: [{quickbooks: PrimaryEmailAddr.Address}]\n",
            "line 5: mappings[0].match[0]: missing required key 'salesforce'",
            id="match-rule",
        ),
    ],
)
def test_mistake_is_reported_with_its_line(body, expected):
    assert errors_of(config(body)) == [expected]


def test_quickbooks_entity_case_is_suggested():
    text = "mappings:\n  - {name: a, quickbooks: salesReceipt, salesforce: Opportunity}\n"
    assert errors_of(text) == [
        "line 2: mappings[0].quickbooks: 'salesReceipt' is not a QuickBooks entity "
        "(did you mean 'SalesReceipt'?)"
    ]


def test_every_error_is_reported_in_line_order():
    text = textwrap.dedent("""\
        mappings:
          - name: Customers
            quickbooks: Customer
            salesforce: Account
            fields:
              - {quickbooks: CustomerRef.value, salesforce: ParentId, lookup: custmers}
              - {quickbooks: Notes, salesforce: Description, requird: true}
          - name: invoices
            quickbooks: Invoices
            salesforce: Opportunity
          - name: invoices
            quickbooks: Invoice
            salesforce: Opportunity
        """)
    assert errors_of(text) == [
        "line 2: mappings[0].name: 'Customers' is not a name of a-z, 0-9, _ and -",
        "line 6: mappings[0].fields[0].lookup: 'custmers' is not the name of a mapping in this "
        "file or the database",
        "line 7: mappings[0].fields[1]: unknown key 'requird' (did you mean 'required'?)",
        "line 9: mappings[1].quickbooks: 'Invoices' is not a QuickBooks entity "
        "(did you mean 'Invoice'?)",
        "line 11: mappings[2].name: 'invoices' is already the name of mappings[1]",
    ]


def test_lookup_typo_gets_a_suggestion():
    text = DESIGN_SKETCH.replace("lookup: customers", "lookup: customer")
    assert errors_of(text) == [
        "line 19: mappings[1].fields[0].lookup: 'customer' is not the name of a mapping in this "
        "file or the database (did you mean 'customers'?)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1: the file is empty; expected 'mappings:' and a list"),
        ("# nothing yet\n", "line 1: the file is empty; expected 'mappings:' and a list"),
        (
            "mappings:\n  - name: a\n   quickbooks: Customer\n",
            "line 3: invalid YAML: expected <block end>, but found '<block mapping start>' "
            "(while parsing a block collection at line 2)",
        ),
        (
            '{"mappings": [\n  {"name": "a",}\n',
            "line 3: invalid YAML: expected ',' or ']', but got '<stream end>' "
            "(while parsing a flow sequence at line 1)",
        ),
        ("- a\n- b\n", "line 1: top level: expected a mapping, got a list"),
        ("mappings: {}\n", "line 1: mappings: expected a list, got a mapping"),
        (
            "mappings: []\n---\nmappings: []\n",
            "line 2: invalid YAML: expected a single document in the stream, but found another "
            "document",
        ),
    ],
)
def test_broken_file_is_one_error_with_a_line(text, expected):
    assert errors_of(text) == [expected]


def test_unsafe_tags_are_refused():
    text = "mappings:\n  - {name: !!python/name:os.system a, quickbooks: Item, salesforce: X}\n"
    [error] = errors_of(text)
    assert error.startswith("line 2: mappings[0].name: cannot read this value")


# --- export ------------------------------------------------------------------------------------


def test_export_of_the_sketch_is_fixed_text():
    assert dump_config(parse_config(DESIGN_SKETCH)) == SKETCH_EXPORT


def test_export_is_sorted_by_name_and_independent_of_input_order():
    assert dump_config([INVOICES, CUSTOMERS]) == dump_config([CUSTOMERS, INVOICES])
    assert dump_config([INVOICES, CUSTOMERS]).index("customers") < SKETCH_EXPORT.index("invoices")


def test_export_import_export_is_byte_identical():
    exported = dump_config(parse_config(DESIGN_SKETCH))
    assert parse_config(exported) == [CUSTOMERS, INVOICES]
    assert dump_config(parse_config(exported)) == exported


def test_tricky_values_survive_a_round_trip():
    mapping = {
        "name": "odd-values_2",
        "quickbooks": "Item",
        "salesforce": "Product2",
        "direction": "salesforce_to_quickbooks",
        "realtime": False,
        "external_id": "QBO_Item_Id__c",
        "on_delete": "delete",
        "match": [{"quickbooks": "Sku", "salesforce": "StockKeepingUnit"}],
        "fields": [
            {"quickbooks": "Name", "salesforce": "Name", "direction": "salesforce_to_quickbooks",
             "required": True, "default": "yes"},
            {"quickbooks": "Type", "salesforce": "Family", "direction": "salesforce_to_quickbooks",
             "values": {"true": "null", "1": "1.0", "Service": "on", "Z": "Zürich: a, b",
                        "#": "- x", "no": False, "2.5": 2.5}},
            {"quickbooks": "UnitPrice", "salesforce": "Price__c",
             "direction": "salesforce_to_quickbooks", "type": "decimal", "default": 0.1},
            {"quickbooks": "Description", "salesforce": "Description",
             "direction": "salesforce_to_quickbooks", "default": "2024-01-31"},
            {"quickbooks": "Line.0.Amount", "salesforce": "Amount__c",
             "direction": "salesforce_to_quickbooks", "default": "it's \"quoted\"\nand long " * 20},
        ],
    }  # fmt: skip
    exported = dump_config([mapping])
    assert parse_config(exported) == [mapping]
    assert dump_config(parse_config(exported)) == exported
    assert yaml.safe_load(exported)["mappings"][0]["fields"][1]["values"]["true"] == "null"


def test_export_of_nothing_is_a_valid_empty_config():
    assert dump_config([]) == "mappings: []\n"
    assert parse_config(dump_config([])) == []


# --- import ------------------------------------------------------------------------------------


def test_merge_creates_replaces_and_keeps():
    vendors = {**INVOICES, "name": "vendors", "quickbooks": "Vendor", "salesforce": "Account"}
    changed = {**CUSTOMERS, "realtime": False}
    created, replaced, unchanged, removed = merge_mappings(
        [CUSTOMERS, INVOICES], [vendors, changed], prune=False
    )
    assert (created, replaced, unchanged, removed) == ([vendors], [changed], [], [])


def test_importing_the_same_file_twice_changes_nothing():
    imported = parse_config(DESIGN_SKETCH)
    assert merge_mappings(imported, parse_config(DESIGN_SKETCH), prune=True) == (
        [], [], ["customers", "invoices"], []
    )  # fmt: skip


def test_prune_removes_mappings_absent_from_the_file():
    vendors = {**INVOICES, "name": "vendors", "quickbooks": "Vendor", "fields": []}
    result = merge_mappings([CUSTOMERS, INVOICES, vendors], [CUSTOMERS], prune=True)
    assert result == ([], [], ["customers"], ["invoices", "vendors"])


def test_prune_refuses_to_leave_a_lookup_dangling():
    with pytest.raises(ConfigError) as caught:
        merge_mappings([CUSTOMERS, INVOICES], [INVOICES], prune=True)
    assert caught.value.errors == [
        "mapping 'invoices': field CustomerRef.value looks up 'customers', which pruning "
        "would remove"
    ]
