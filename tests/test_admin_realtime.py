"""The Real-Time Configuration page and the completeness check behind it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gateway import mapping_check, realtime
from gateway.extensions import db
from gateway.models import Company, EventStatus, ObjectMapping
from tests.support.admin import COMPLETE, NAME_MISSING, import_mappings
from tests.support.scenario import connect


def checkbox(page: str, mapping: ObjectMapping, company: Company) -> str:
    match = re.search(
        rf'<input type="checkbox"[^>]*id="rt-{company.id}-{mapping.id}"[^>]*>', page, re.S
    )
    assert match, page
    return match.group(0)


@pytest.fixture
def gateway(app, runner, fakes):
    return connect(app, runner, fakes, mappings=NAME_MISSING)


def rows():
    db.session.rollback()
    mapping = db.session.execute(select(ObjectMapping)).scalar_one()
    company = db.session.execute(select(Company)).scalar_one()
    return mapping, company


def save(admin_client, *on: str, shown: list[str], htmx: bool = True):
    headers = {"HX-Request": "true"} if htmx else {}
    return admin_client.post(
        "/admin/realtime", data={"on": list(on), "shown": shown}, headers=headers
    )


def test_an_incomplete_mapping_says_what_is_missing_and_cannot_be_switched_on(
    gateway, admin_client
):
    mapping, company = rows()
    page = admin_client.get("/admin/realtime").text
    box = checkbox(page, mapping, company)
    assert 'aria-disabled="true"' in box and "checked" not in box
    why = f"rt-{company.id}-{mapping.id}-why"
    assert f'aria-describedby="{why}"' in box
    assert "required Salesforce field Account Name (Name) is not mapped" in page
    assert f'for="rt-{company.id}-{mapping.id}"' in page  # labelled, label names the object

    key = f"{company.id}:{mapping.id}"
    refused = save(admin_client, key, shown=[key])
    assert refused.status_code == 422
    assert "Nothing was saved" in refused.text and "Cannot be switched on:" in refused.text
    mapping, company = rows()
    assert not realtime.is_enabled(mapping, company)


def test_once_fixed_it_is_switched_on_and_webhooks_sync(gateway, admin_client, runner, tmp_path):
    import_mappings(runner, tmp_path, COMPLETE)
    mapping, company = rows()
    key = f"{company.id}:{mapping.id}"
    page = admin_client.get("/admin/realtime").text
    assert "aria-disabled" not in checkbox(page, mapping, company)

    saved = save(admin_client, key, shown=[key])
    assert saved.status_code == 200 and "<html" not in saved.text
    assert f"Customer on for {company.name}" in saved.text
    assert "checked" in checkbox(saved.text, mapping, company)
    mapping, company = rows()
    assert realtime.is_enabled(mapping, company)
    assert realtime.realtime_objects("quickbooks_to_salesforce")[company.id] == {"Customer"}

    # Off again: a change now is stored as ignored (real time off), as the page says.
    assert save(admin_client, shown=[key], htmx=False).headers["Location"] == "/admin/realtime"
    mapping, company = rows()
    assert not realtime.is_enabled(mapping, company)
    gateway.customer(DisplayName="While off")
    gateway.settle()
    events = gateway.events(entity="Customer")
    assert events and all(e.status == EventStatus.IGNORED for e in events)


def test_switches_added_after_the_page_loaded_are_left_alone(
    gateway, admin_client, runner, tmp_path
):
    import_mappings(
        runner,
        tmp_path,
        COMPLETE.replace(
            "quickbooks_to_salesforce", "quickbooks_to_salesforce\n    realtime: true"
        ),
    )
    mapping, company = rows()
    assert realtime.is_enabled(mapping, company)
    assert save(admin_client, shown=[]).status_code == 200
    mapping, company = rows()
    assert realtime.is_enabled(mapping, company)


def test_per_company(app, runner, fakes, admin_client):
    gateway = connect(app, runner, fakes, mappings=COMPLETE)
    second = gateway.platforms.new_company()
    result = runner.invoke(
        args=["connect", "quickbooks", "--realm-id", second["realmId"],
              "--refresh-token", second["refresh_token"]]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    db.session.rollback()
    mapping = db.session.execute(select(ObjectMapping)).scalar_one()
    first, other = db.session.execute(select(Company).order_by(Company.id)).scalars().all()
    keys = [f"{first.id}:{mapping.id}", f"{other.id}:{mapping.id}"]
    page = admin_client.get("/admin/realtime").text
    assert page.count('type="checkbox"') == 2
    save(admin_client, keys[1], shown=keys)
    db.session.rollback()
    assert not realtime.is_enabled(mapping, first) and realtime.is_enabled(mapping, other)


def test_without_salesforce_nothing_can_be_checked(app, runner, fakes, admin_client):
    gateway = connect(app, runner, fakes, mappings=COMPLETE)
    admin_client.post("/admin/connections/salesforce/disconnect")
    mapping, company = rows()
    page = admin_client.get("/admin/realtime").text
    assert "Salesforce is not connected" in page
    assert 'aria-disabled="true"' in checkbox(page, mapping, company)
    assert gateway.realm in page


# -- the check itself, pure --------------------------------------------------------------------


def field(name, required=False, external_id=False):
    return mapping_check.SalesforceField(name, name.title(), "string", required, external_id, 80)


ACCOUNT = {
    "Name": field("Name", required=True),
    "QBO_Id__c": field("QBO_Id__c", external_id=True),
    "Plain__c": field("Plain__c"),
}


def spec(**changes):
    base = {
        "name": "customers",
        "quickbooks": "Customer",
        "salesforce": "Account",
        "direction": "both",
        "external_id": "QBO_Id__c",
        "fields": [{"quickbooks": "DisplayName", "salesforce": "Name"}],
    }
    return {**base, **changes}


def messages(found):
    return [p.message for p in found]


def test_check_complete_mapping_has_no_problems():
    assert mapping_check.problems(spec(), {"Account": ACCOUNT}.get) == []


def test_check_names_each_missing_piece():
    found = mapping_check.problems(
        spec(
            external_id="Plain__c",
            fields=[{"quickbooks": "CompanyName", "salesforce": "Nope__c"}],
        ),
        {"Account": ACCOUNT}.get,
    )
    assert messages(found) == [
        "Customer → Account: Salesforce field Account.Nope__c does not exist.",
        "Customer → Account: Account.Plain__c is not marked External ID in Salesforce.",
        "Customer → Account: required Salesforce field Name (Name) is not mapped and has no "
        "default.",
        "Required QuickBooks field Customer.DisplayName is not mapped from Salesforce and has "
        "no default.",
    ]
    assert {p.field for p in found} == {"Nope__c", "Plain__c", "Name", "DisplayName"}


def test_check_direction_decides_which_side_must_be_complete():
    one_way = spec(direction="quickbooks_to_salesforce", fields=[])
    assert [p.field for p in mapping_check.problems(one_way, {"Account": ACCOUNT}.get)] == ["Name"]
    other_way = spec(direction="salesforce_to_quickbooks", fields=[])
    assert [p.field for p in mapping_check.problems(other_way, {"Account": ACCOUNT}.get)] == [
        "DisplayName"
    ]
    constant = spec(
        direction="quickbooks_to_salesforce",
        fields=[{"salesforce": "Name", "default": "Acme", "direction": "quickbooks_to_salesforce"}],
    )
    assert mapping_check.problems(constant, {"Account": ACCOUNT}.get) == []


def test_check_unknown_object_and_line_items():
    assert messages(mapping_check.problems(spec(), {}.get)) == [
        "Customer → Account: the Salesforce object Account does not exist in the org."
    ]
    line_object = {
        "OpportunityId": field("OpportunityId", required=True),
        "Quantity": field("Quantity", required=True),
        "QBO_Id__c": field("QBO_Id__c", external_id=True),
    }
    invoice = spec(
        quickbooks="Invoice",
        salesforce="Account",
        direction="both",
        fields=[
            {"quickbooks": "DocNumber", "salesforce": "Name"},
            {"quickbooks": "CustomerRef.value", "salesforce": "Plain__c"},
        ],
        lines={
            "salesforce": "OpportunityLineItem",
            "parent_field": "OpportunityId",
            "external_id": "QBO_Id__c",
            "fields": [],
        },
    )
    found = mapping_check.problems(
        invoice, {"Account": ACCOUNT, "OpportunityLineItem": line_object}.get
    )
    assert messages(found) == [
        "Line items → OpportunityLineItem: required Salesforce field Quantity (Quantity) is not "
        "mapped and has no default."
    ]


def test_check_against_the_fake_orgs_describe(gateway):
    mapping, _company = rows()
    # Blocking only: the QuickBooks catalogue adds length warnings (BillingCity keeps 40).
    found = mapping_check.blocking(mapping_check.check(mapping))
    assert [p.field for p in found] == ["Name"]
    assert found[0].message.endswith("Account Name (Name) is not mapped and has no default.")
    missing = ObjectMapping()
    missing.apply_spec({**mapping.spec, "salesforce": "NoSuchThing__c"})
    assert "does not exist in the org" in mapping_check.check(missing)[0].message


def typed(name, sf_type, length=None):
    return mapping_check.SalesforceField(name, name, sf_type, False, False, length)


TYPED = {
    **ACCOUNT,
    "Founded__c": typed("Founded__c", "date"),
    "Employees__c": typed("Employees__c", "double"),
    "Short__c": typed("Short__c", "string", 40),
}
CATALOGUE = {
    ("Customer", "MetaData.CreateTime"): mapping_check.QuickBooksField("datetime"),
    ("Customer", "Balance"): mapping_check.QuickBooksField("decimal"),
    ("Customer", "Notes"): mapping_check.QuickBooksField("string", 2000),
}


def catalogue(entity, path):
    return CATALOGUE.get((entity, path))


def test_check_types_a_date_into_a_number_is_an_error_long_text_a_warning():
    rules = [
        {"quickbooks": "DisplayName", "salesforce": "Name"},
        {"quickbooks": "MetaData.CreateTime", "salesforce": "Employees__c"},
        {"quickbooks": "Balance", "salesforce": "Founded__c"},
        {"quickbooks": "Notes", "salesforce": "Short__c"},
        {"quickbooks": "Notes", "salesforce": "Employees__c"},
        {"quickbooks": "Balance", "salesforce": "Plain__c"},  # a number into text: fine
    ]
    found = mapping_check.problems(
        spec(direction="quickbooks_to_salesforce", fields=rules), {"Account": TYPED}.get, catalogue
    )
    assert [(p.message, p.blocking) for p in found] == [
        (
            "Customer → Account: MetaData.CreateTime → Employees__c puts a date into a number "
            "field.",
            True,
        ),
        ("Customer → Account: Balance → Founded__c puts a number into a date field.", True),
        (
            "Customer → Account: Notes → Short__c: QuickBooks allows 2000 characters, Salesforce "
            "keeps 40; longer values will fail.",
            False,
        ),
        (
            "Customer → Account: Notes → Employees__c puts text into a number field; values that "
            "are not a number will fail.",
            False,
        ),
    ]
    # Without a catalogue a rule's declared type is used; warnings never block.
    declared = [{"quickbooks": "TxnDate", "salesforce": "Employees__c", "type": "date"}]
    found = mapping_check.problems(
        spec(direction="quickbooks_to_salesforce", fields=rules[:1] + declared),
        {"Account": TYPED}.get,
    )
    assert [p.field for p in mapping_check.blocking(found)] == ["Employees__c"]


def test_a_mapping_with_only_warnings_can_be_switched_on(gateway, admin_client, runner, tmp_path):
    warning = COMPLETE + "      - {quickbooks: Notes, salesforce: QBO_Balance__c, type: string}\n"
    import_mappings(runner, tmp_path, warning)
    mapping, company = rows()
    page = admin_client.get("/admin/realtime").text
    assert "Warnings (real time can be on):" in page
    assert "Notes → QBO_Balance__c puts text into a number field" in page
    assert "aria-disabled" not in checkbox(page, mapping, company)
    key = f"{company.id}:{mapping.id}"
    assert save(admin_client, key, shown=[key]).status_code == 200
    mapping, company = rows()
    assert realtime.is_enabled(mapping, company)


def test_switching_on_offers_to_catch_up_what_changed_while_off(
    gateway, admin_client, runner, tmp_path
):
    first = gateway.customer(DisplayName="Made while off")
    gateway.platforms.qbo_save(gateway.realm, "Customer", {"Id": first["Id"], "Notes": "edited"})
    gateway.customer(DisplayName="Also while off")
    gateway.settle()
    assert {e.status for e in gateway.events(entity="Customer")} == {EventStatus.IGNORED}
    assert gateway.accounts() == []

    import_mappings(runner, tmp_path, COMPLETE)
    mapping, company = rows()
    key = f"{company.id}:{mapping.id}"
    catch_up = {"catch_up": f"{company.id}:Customer"}
    refused = admin_client.post(
        "/admin/realtime/catch-up", data=catch_up, headers={"HX-Request": "true"}
    )
    assert refused.status_code == 409  # only once real time is on

    saved = save(admin_client, key, shown=[key]).text
    assert "3 changes to Customer in" in saved and "arrived while its real time was off" in saved
    assert 'name="catch_up"' in saved
    done = admin_client.post(
        "/admin/realtime/catch-up", data=catch_up, headers={"HX-Request": "true"}
    )
    assert "Queued 3 changes to Customer" in done.text
    gateway.settle()
    assert sorted(a["Name"] for a in gateway.accounts()) == ["Also while off", "Made while off"]
    assert {e.status for e in gateway.events(entity="Customer")} <= {
        EventStatus.SYNCED,
        EventStatus.SKIPPED,
    }


def test_when_salesforce_does_not_answer_the_page_asks_it_once(
    gateway, admin_client, runner, tmp_path
):
    two = COMPLETE + COMPLETE.split("mappings:\n", 1)[1].replace(
        "name: customers", "name: vendors"
    ).replace("quickbooks: Customer", "quickbooks: Vendor")
    import_mappings(runner, tmp_path, two)
    gateway.platforms.settings("sf", fail_next=[{"match": "/describe", "status": 503, "times": 10}])
    gateway.platforms.clear_calls()
    page = admin_client.get("/admin/realtime").text
    assert page.count("Salesforce did not answer") == 2  # both mappings say so
    describes = [c for c in gateway.platforms.calls("sf") if c["path"].endswith("/describe")]
    assert len(describes) == 1
