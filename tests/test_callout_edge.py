"""POST /callouts/salesforce (design §4): signatures and their window, the body, companies and
types, dedupe, and the fake Salesforce sending the same callout the Apex sends."""

from __future__ import annotations

import json
import time

import pytest
import requests
from sqlalchemy import select

from gateway import inbox, queue
from gateway.extensions import db
from gateway.inbound import callout_contract
from gateway.models import Company, EventStatus
from tests.conftest import CALLOUT_SECRET
from tests.fakes.client import FakesClient
from tests.support.factories import add_company, add_mappings, callout_headers, connect_quickbooks
from tests.support.factories import stored_events as events

URL = callout_contract.PATH
ORG = "00D000000000001EAA"
REALM = "9130350000001"
OPPORTUNITIES_YAML = """
mappings:
  - {name: invoices, quickbooks: Invoice, salesforce: Opportunity, realtime: true,
     fields: [{quickbooks: DocNumber, salesforce: Name}]}
  - {name: receipts, quickbooks: SalesReceipt, salesforce: Opportunity, realtime: true,
     external_id: QBO_Receipt_Id__c, fields: [{quickbooks: DocNumber, salesforce: Name}]}
"""


def callout(records=None, **fields) -> dict:
    body = {
        "orgId": ORG,
        "companyId": REALM,
        "object": "Account",
        "operation": "upsert",
        "records": [
            {"id": "001000000000001AAA", "modstamp": "2026-11-22T10:00:00.000+0000"},
            {"id": "001000000000002AAA", "modstamp": "2026-11-22T10:00:01.000+0000"},
        ]
        if records is None
        else records,
    }
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def post(client, body, secret: str = CALLOUT_SECRET, at: float | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(URL, data=raw, headers=callout_headers(secret, raw, at))


@pytest.fixture
def company(app) -> Company:
    add_mappings()  # customers: Customer <-> Account, both ways, real time on
    return add_company(REALM)


def test_a_signed_callout_stores_its_records_and_enqueues_one_job(client, company):
    response = post(client, callout())
    assert response.status_code == 200
    assert response.json == {"received": 2, "stored": 2, "duplicates": 0}
    stored = events()
    assert [(e.source, e.entity, e.record_id, e.operation, e.status) for e in stored] == [
        ("salesforce", "Account", "001000000000001AAA", "upsert", "pending"),
        ("salesforce", "Account", "001000000000002AAA", "upsert", "pending"),
    ]
    assert {e.sync_key for e in stored} == {f"sf:{company.id}:Account"}
    assert {(e.company_id, e.account_id, e.target_type) for e in stored} == {
        (company.id, ORG, None)
    }
    assert stored[1].occurred_at.second == 1
    assert json.loads(stored[0].payload)["record"]["id"] == "001000000000001AAA"
    assert len(queue.backend().queue) == 1


def test_a_redelivered_callout_stores_nothing_new(client, company):
    post(client, callout())
    again = post(client, callout())
    assert again.json == {"received": 2, "stored": 0, "duplicates": 2}
    newer = callout([{"id": "001000000000001AAA", "modstamp": "2026-11-22T10:05:00.000+0000"}])
    assert post(client, newer).json["stored"] == 1  # a later edit of the same record is kept
    assert len(events()) == 3


def test_any_configured_secret_verifies_for_rotation(app, client, company):
    app.config["SF_CALLOUT_SECRETS"] = ["new-secret", CALLOUT_SECRET]
    assert post(client, callout(), secret=CALLOUT_SECRET).status_code == 200
    assert post(client, callout(records=[]), secret="new-secret").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {callout_contract.TIMESTAMP_HEADER: "{now}"},
        {callout_contract.TIMESTAMP_HEADER: "{now}", callout_contract.SIGNATURE_HEADER: "sha256=0"},
        {callout_contract.TIMESTAMP_HEADER: "soon", callout_contract.SIGNATURE_HEADER: "{sig}"},
        {callout_contract.TIMESTAMP_HEADER: "{now}", callout_contract.SIGNATURE_HEADER: "sïg"},
    ],
)
def test_missing_or_wrong_signatures_get_401_and_store_nothing(client, company, headers):
    raw = json.dumps(callout()).encode()
    good = callout_headers(CALLOUT_SECRET, raw)
    values = {"now": good[callout_contract.TIMESTAMP_HEADER]}
    values["sig"] = good[callout_contract.SIGNATURE_HEADER]
    sent = {name: value.format(**values) for name, value in headers.items()}
    response = client.post(URL, data=raw, headers=sent)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"
    assert events() == []


@pytest.mark.parametrize("offset", [-301, 301, 600, -3600])
def test_timestamps_outside_the_window_either_way_are_refused(client, company, offset):
    response = post(client, callout(), at=time.time() + offset)
    assert response.status_code == 401
    assert "300 s away" in response.json["message"]
    assert events() == []


def test_inside_the_window_either_way_is_accepted(client, company):
    assert post(client, callout(), at=time.time() - 290).status_code == 200
    assert post(client, callout(records=[]), at=time.time() + 290).status_code == 200


def test_no_configured_secret_refuses_every_callout(app, client, company):
    app.config["SF_CALLOUT_SECRETS"] = []
    response = post(client, callout())
    assert response.status_code == 401
    assert "SF_CALLOUT_SECRETS" in response.json["message"]


def test_a_body_over_the_limit_gets_413_framed_either_way(app, company, live_gateway):
    app.config["MAX_WEBHOOK_BYTES"] = 500
    records = [{"id": f"001{i:015d}", "modstamp": "2026-11-22T10:00:00Z"} for i in range(20)]
    raw = json.dumps(callout(records)).encode()
    headers = callout_headers(CALLOUT_SECRET, raw)
    sized = requests.post(live_gateway.url + URL, data=raw, headers=headers, timeout=10)
    chunked = requests.post(live_gateway.url + URL, data=iter([raw]), headers=headers, timeout=10)
    assert (sized.status_code, chunked.status_code) == (413, 413)
    assert chunked.json()["error"] == "request_entity_too_large"
    assert events() == []


@pytest.mark.parametrize(
    ("body", "error", "says"),
    [
        (b"{not json", "invalid_json", "JSON object"),
        (b"[" * 500 + b"]" * 500, "invalid_json", "nested 500 levels"),
        (b"[]", "invalid_body", "JSON object"),
        (callout(orgId=None), "invalid_body", "orgId is required"),
        (callout(object=7), "invalid_body", "object is required"),
        (callout(companyId=["x"]), "invalid_body", "companyId must be a string"),
        (callout(type={"a": 1}), "invalid_body", "type must be a string"),
        (callout(operation="merge"), "invalid_body", "operation must be one of"),
        (callout(records={"id": "1"}), "invalid_body", "records must be a list"),
        (
            callout([{"id": f"001{i:015d}", "modstamp": "x"} for i in range(201)]),
            "too_many_records",
            "at most 200",
        ),
    ],
)
def test_a_bad_body_gets_a_clear_400_and_nothing_is_stored(client, company, body, error, says):
    response = post(client, body)
    assert response.status_code == 400
    assert response.json["error"] == error
    assert says in response.json["message"]
    assert events() == []


def test_two_hundred_records_in_one_call_are_all_stored(client, company):
    records = [{"id": f"001{i:015d}", "modstamp": "2026-11-22T10:00:00Z"} for i in range(200)]
    assert post(client, callout(records)).json["stored"] == 200
    assert len(events(status=EventStatus.PENDING)) == 200


def test_a_bad_record_is_kept_as_malformed_beside_the_good_ones(client, company):
    records = [
        {"id": "001000000000001AAA", "modstamp": "2026-11-22T10:00:00Z"},
        {"id": "001000000000002AAA"},
        "001000000000003AAA",
        {"id": "0" * 100, "modstamp": "2026-11-22T10:00:00Z"},
        {"id": "001000000000004AAA", "modstamp": "9999-12-31T23:59:59-14:00"},
    ]
    response = post(client, callout(records))
    assert response.status_code == 200
    assert [e.record_id for e in events(status=EventStatus.PENDING)] == [
        "001000000000001AAA",
        "001000000000004AAA",
    ]
    malformed = events(status=EventStatus.MALFORMED)
    assert len(malformed) == 3
    assert all(e.reason and e.payload for e in malformed)
    assert events(record_id="001000000000004AAA")[0].occurred_at is None


def test_undelete_is_stored_as_an_upsert_and_delete_as_a_delete(client, company):
    undelete = callout(operation="undelete")
    post(client, undelete)
    delete = callout([{"id": "001000000000009AAA", "modstamp": "2026-11-22T11:00:00Z"}])
    post(client, delete | {"operation": "delete"})
    assert [e.operation for e in events()] == ["upsert", "upsert", "delete"]
    assert json.loads(events()[0].payload)["operation"] == "undelete"


def test_an_unknown_company_or_an_object_without_real_time_is_ignored(client, company):
    post(client, callout(companyId="555"))
    post(client, callout(object="Contact"))
    reasons = {(e.entity, e.status, e.reason) for e in events()}
    assert reasons == {
        ("Account", "ignored", "unknown company: realm 555 is not connected"),
        ("Contact", "ignored", "real time is off for Contact (no real-time mapping to QuickBooks)"),
    }
    assert len(queue.backend().queue) == 0


def test_type_picks_among_the_mappings_that_share_the_object(client, company):
    add_mappings(OPPORTUNITIES_YAML)
    for second, kind in enumerate(["salesreceipt", "Estimate", None]):
        record = [{"id": "006000000000001AAA", "modstamp": f"2026-11-22T10:00:0{second}Z"}]
        post(client, callout(record, object="Opportunity", type=kind))
    stored = events()
    assert [(e.target_type, e.status) for e in stored] == [
        ("SalesReceipt", "pending"),
        ("Estimate", "ignored"),
        (None, "pending"),
    ]
    assert "no real-time mapping of Opportunity to Estimate" in stored[1].reason
    assert stored[0].sync_key == f"sf:{company.id}:Opportunity"


def test_without_company_id_the_only_or_the_marked_company_is_used(client, company):
    post(client, callout(companyId=None))
    assert {e.company_id for e in events()} == {company.id}
    other = add_company("4620816365000000001", is_default=True)
    newer = [{"id": "001000000000001AAA", "modstamp": "2026-11-22T12:00:00Z"}]
    post(client, callout(newer, companyId=None))
    assert events()[-1].company_id == other.id
    assert events()[-1].sync_key == f"sf:{other.id}:Account"


def test_without_a_default_company_records_wait_as_failed_until_one_is_set(client, runner, company):
    add_company("4620816365000000001")
    response = post(client, callout(companyId=None))
    assert response.status_code == 200  # stored, so the Queueable is done
    waiting = events()
    assert {(e.status, e.company_id, e.sync_key, e.retryable) for e in waiting} == {
        ("failed", None, None, True)
    }
    assert "no default company" in waiting[0].reason
    assert "flask companies default" in waiting[0].reason
    # A plain retry has no job to hand them to: they stay failed, saying what to do.
    assert inbox.retry([e.id for e in waiting]) == set()
    assert {e.status for e in events()} == {"failed"}

    result = runner.invoke(args=["companies", "default", REALM])
    assert result.exit_code == 0, result.output
    assert "2 Salesforce records" in result.output
    assert {(e.status, e.company_id, e.sync_key) for e in events()} == {
        ("pending", company.id, f"sf:{company.id}:Account")
    }
    assert len(queue.backend().queue) == 1
    assert [c.realm_id for c in db.session.scalars(select(Company).filter_by(is_default=True))] == [
        REALM
    ]


def test_setting_an_unknown_default_company_fails_clearly(runner, company):
    result = runner.invoke(args=["companies", "default", "nope"])
    assert result.exit_code != 0
    assert "no connected company has realm id nope" in result.output


def test_a_qbo_sync_style_callout_syncs_a_record_whose_object_has_no_trigger(
    client, company, fakes
):
    """A Flow's QBO_Sync__c record names the record, its company and the QuickBooks type; the
    object itself is not watched by any trigger (not in the fake's callout_objects)."""
    add_mappings(OPPORTUNITIES_YAML)
    body = callout(
        [{"id": "006000000000007AAA", "modstamp": "2026-11-22T10:00:00Z"}],
        object="Opportunity",
        type="Invoice",
    )
    assert post(client, body).status_code == 200
    [event] = events()
    assert (event.status, event.target_type, event.sync_key) == (
        "pending",
        "Invoice",
        f"sf:{company.id}:Opportunity",
    )
    assert len(queue.backend().queue) == 1


def test_the_fake_salesforce_sends_the_callout_the_edge_accepts(app, company, fakes):
    with FakesClient(fakes) as fake:
        fake.sf_create_org()
        fake.settings("salesforce", callout_objects=["Account"], webhook_batch_ms=20)
        created = fake.sf_create("Account", {"Name": "Acme"})
        fake.sf_edit("Account", created["Id"], {"Phone": "555"})
        fake.sf_delete("Account", created["Id"])
        delivered = fake.wait_callouts_delivered()
    assert all(d["status"] == 200 for d in delivered["deliveries"])
    stored = events()
    assert [(e.record_id, e.operation, e.status) for e in stored] == [
        (created["Id"], "upsert", "pending"),
        (created["Id"], "upsert", "pending"),
        (created["Id"], "delete", "pending"),
    ]
    assert len({e.dedupe_key for e in stored}) == 3  # each change has its own modstamp


def test_a_qbo_sync_record_made_by_a_flow_sends_the_record_it_names(app, company, fakes):
    add_mappings(OPPORTUNITIES_YAML)
    with FakesClient(fakes) as fake:
        fake.sf_create_org()
        for field in ("Record_Id__c", "Platform__c", "QB_Company_Id__c", "Type__c"):
            fake.sf_add_field("QBO_Sync__c", name=field, type="string")
        # Only the QBO Sync object has a trigger; Opportunity changes alone send nothing.
        fake.settings("salesforce", callout_objects=["QBO_Sync__c"], webhook_batch_ms=20)
        deal = fake.sf_create(
            "Opportunity", {"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2026-11-22"}
        )
        fake.wait_callouts_delivered()
        assert events() == []
        fake.sf_create(
            "QBO_Sync__c",
            {
                "Name": "sync",
                "Record_Id__c": deal["Id"],
                "Platform__c": "Salesforce",
                "QB_Company_Id__c": REALM,
                "Type__c": "Invoice",
            },
        )
        [delivery] = fake.wait_callouts_delivered()["deliveries"]
    assert delivery["status"] == 200
    assert delivery["body"]["type"] == "Invoice" and delivery["body"]["companyId"] == REALM
    [event] = events()
    assert (event.entity, event.record_id, event.target_type, event.status) == (
        "Opportunity",
        deal["Id"],
        "Invoice",
        "pending",
    )
    assert event.sync_key == f"sf:{company.id}:Opportunity"


def test_connecting_the_only_company_sends_on_the_records_that_waited(app, client, runner, fakes):
    add_mappings()
    response = post(client, callout(companyId=None))  # no company connected yet
    assert response.status_code == 200
    assert {e.status for e in events()} == {"failed"}
    with FakesClient(fakes) as fake:
        fresh = fake.qbo_create_company()
    result = connect_quickbooks(runner, fresh["realmId"], fresh["refresh_token"])
    assert result.exit_code == 0, result.output
    assert "2 Salesforce records that waited" in result.output
    company = db.session.scalars(select(Company)).one()
    assert {(e.status, e.sync_key) for e in events()} == {("pending", f"sf:{company.id}:Account")}
