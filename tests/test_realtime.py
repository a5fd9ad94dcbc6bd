"""Real time per company and mapping (gateway.realtime): what the edge accepts, what the job
syncs, and what the sync-config file says."""

from __future__ import annotations

from sqlalchemy import select

from gateway import realtime
from gateway.extensions import db
from gateway.mapping import QUICKBOOKS_TO_SALESFORCE
from gateway.models import Event, EventStatus
from gateway.sync_config import parse_config
from tests.conftest import VERIFIER_TOKEN
from tests.support.factories import add_company, add_mappings, cloudevent, signed

REALM_A, REALM_B, REALM_C = "9130350000001", "9130350000002", "9130350000003"

MAPPINGS = f"""
mappings:
  - name: customers
    quickbooks: Customer
    salesforce: Account
    realtime: true
    fields: [{{quickbooks: DisplayName, salesforce: Name}}]
  - name: vendors
    quickbooks: Vendor
    salesforce: Account
    external_id: QBO_Vendor_Id__c
    companies: ["{REALM_A}"]
    realtime: true
    fields: [{{quickbooks: DisplayName, salesforce: Name}}]
"""


def _setup():
    customers, vendors = add_mappings(MAPPINGS)
    companies = [add_company(realm) for realm in (REALM_A, REALM_B)]
    return customers, vendors, companies


def test_companies_limit_where_a_mapping_applies(app):
    customers, vendors, (a, b) = _setup()
    assert realtime.is_enabled(customers, a) and realtime.is_enabled(customers, b)
    assert realtime.is_enabled(vendors, a) and not realtime.is_enabled(vendors, b)
    assert realtime.realtime_objects(QUICKBOOKS_TO_SALESFORCE) == {
        a.id: frozenset({"Customer", "Vendor"}),
        b.id: frozenset({"Customer"}),
    }
    assert realtime.enabled_mappings(b, QUICKBOOKS_TO_SALESFORCE, "Vendor") == []


def test_switching_one_company_off_and_on_again(app):
    customers, _, (a, b) = _setup()
    realtime.set_enabled(customers, b, False)
    db.session.commit()
    assert customers.spec["realtime"] == [REALM_A] and customers.realtime is True
    assert not realtime.is_enabled(customers, b)
    # on for every company again reads back as `true`, so a company connected later is on too
    realtime.set_enabled(customers, b, True)
    db.session.commit()
    assert customers.spec["realtime"] is True
    assert realtime.is_enabled(customers, add_company(REALM_C))


def test_off_everywhere_is_false(app):
    customers, _, (a, b) = _setup()
    for company in (a, b):
        realtime.set_enabled(customers, company, False)
    assert customers.spec["realtime"] is False and customers.realtime is False


def test_a_company_the_mapping_does_not_apply_to_cannot_be_switched_on(app):
    _, vendors, (_, b) = _setup()
    try:
        realtime.set_enabled(vendors, b, True)
    except ValueError as exc:
        assert "does not apply to company" in str(exc)
    else:
        raise AssertionError("switched on a company outside the mapping's companies")


def test_the_edge_ignores_changes_of_a_company_where_real_time_is_off(app, client):
    customers, _, (a, b) = _setup()
    realtime.set_enabled(customers, b, False)
    db.session.commit()
    body, headers = signed(
        [
            cloudevent(REALM_A, "Customer", "1", "created", "a"),
            cloudevent(REALM_B, "Customer", "1", "created", "b"),
            cloudevent(REALM_B, "Vendor", "2", "created", "c"),
        ],
        VERIFIER_TOKEN,
    )
    assert client.post("/webhooks/quickbooks", data=body, headers=headers).status_code == 200
    db.session.rollback()
    stored = {
        e.account_id + ":" + e.entity: e
        for e in db.session.execute(select(Event).order_by(Event.id)).scalars()
    }
    assert stored[f"{REALM_A}:Customer"].status == EventStatus.PENDING
    for key in (f"{REALM_B}:Customer", f"{REALM_B}:Vendor"):
        assert stored[key].status == EventStatus.IGNORED
        assert f"real time is off for {key.split(':')[1]} in company {REALM_B}" in (
            stored[key].reason
        )


def test_a_page_change_shows_in_the_export(app, runner):
    customers, _, (_, b) = _setup()
    realtime.set_enabled(customers, b, False)
    db.session.commit()
    exported = runner.invoke(args=["sync-config", "export"])
    assert exported.exit_code == 0, exported.output
    specs = {spec["name"]: spec for spec in parse_config(exported.output)}
    assert specs["customers"]["realtime"] == [REALM_A]
    assert specs["vendors"]["companies"] == [REALM_A] and specs["vendors"]["realtime"] is True
