"""POST /webhooks/quickbooks: signatures, both formats, dedupe, ignored and malformed events,
size limit, outages. The sync itself is covered end to end elsewhere."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select, update

from gateway import queue
from gateway.extensions import db
from gateway.models import Event, EventStatus, ObjectMapping
from tests.conftest import VERIFIER_TOKEN
from tests.support.factories import (
    add_company,
    add_mappings,
    classic,
    cloudevent,
    shared_file,
    signed,
)
from tests.support.services import PrivateRedis, free_port

URL = "/webhooks/quickbooks"


def events(**where) -> list[Event]:
    db.session.rollback()
    query = select(Event).order_by(Event.id)
    for name, value in where.items():
        query = query.where(getattr(Event, name) == value)
    return list(db.session.execute(query).scalars())


@pytest.fixture
def realm(app) -> str:
    add_mappings()
    add_company("9130350000001")
    return "9130350000001"


@pytest.mark.parametrize("vector", ["v1-intuit-java-sdk", "v4-python-quickbooks-synthetic"])
def test_published_signature_vectors_verify(app, client, vector):
    meta = json.loads(shared_file("vectors", f"{vector}.meta.json").read_text())
    body = shared_file("vectors", meta["payload_file"]).read_bytes()
    app.config["QBO_WEBHOOK_VERIFIER_TOKENS"] = [meta["verifier_token"]]

    good = client.post(URL, data=body, headers={"intuit-signature": meta["intuit_signature"]})
    assert good.status_code == 200

    bad = client.post(URL, data=body, headers={"intuit-signature": "1234"})
    assert bad.status_code == 401
    assert bad.json["error"] == "invalid_signature"
    stored = events()
    assert len(stored) == 1  # only the verified delivery
    if vector == "v1-intuit-java-sdk":
        assert stored[0].status == EventStatus.IGNORED
        assert "unknown company" in stored[0].reason
        assert (stored[0].entity, stored[0].record_id, stored[0].operation) == (
            "Customer",
            "1",
            "create",
        )
    else:  # {"stuff": "5"} is signed but is neither format
        assert stored[0].status == EventStatus.MALFORMED
        assert stored[0].payload == body.decode()


def test_missing_or_wrong_signature_stores_nothing(client, realm):
    body = json.dumps([cloudevent(realm, "Customer", "1", "created", "e1")])
    assert client.post(URL, data=body).status_code == 401
    _, headers = signed(body, "not-the-token")
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 401
    assert set(response.json) == {"error", "message"}
    assert events() == []


def test_any_configured_token_verifies_for_rotation(client, realm):
    body, headers = signed(
        [cloudevent(realm, "Customer", "1", "created", "e1")], "a-rotated-out-token"
    )
    assert client.post(URL, data=body, headers=headers).status_code == 200
    assert len(events(status=EventStatus.PENDING)) == 1


def test_cloudevents_with_their_content_type_are_stored_and_enqueued(client, realm):
    body, headers = signed(
        [
            cloudevent(realm, "Customer", "7", "updated", "ce-1"),
            cloudevent(realm, "customer", "8", "created", "ce-2"),
        ],
        VERIFIER_TOKEN,
    )
    headers["Content-Type"] = "application/cloudevents+json"
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 200
    assert response.json == {"received": 2, "stored": 2, "duplicates": 0}
    stored = events()
    assert [(e.record_id, e.operation, e.status) for e in stored] == [
        ("7", "update", "pending"),
        ("8", "create", "pending"),
    ]
    assert {e.sync_key for e in stored} == {f"qbo:{stored[0].company_id}:Customer"}
    assert stored[0].occurred_at is not None
    # Coalescing: two events of one (company, object) make one job.
    assert len(queue.backend().queue) == 1


def test_redelivered_events_are_stored_once(client, realm):
    body, headers = signed([cloudevent(realm, "Customer", "7", "updated", "ce-1")], VERIFIER_TOKEN)
    assert client.post(URL, data=body, headers=headers).json["stored"] == 1
    again = client.post(URL, data=body, headers=headers)
    assert again.status_code == 200
    assert again.json == {"received": 1, "stored": 0, "duplicates": 1}
    assert len(events()) == 1


def test_classic_format_keeps_repeated_edits_and_merges(client, realm):
    body, headers = signed(
        classic(
            realm,
            {
                "name": "Customer",
                "id": "5",
                "operation": "Update",
                "lastUpdated": "2026-11-22T10:00:00-0700",
            },
            {
                "name": "Customer",
                "id": "5",
                "operation": "Update",
                "lastUpdated": "2026-11-22T10:00:01-0700",
            },
            {
                "name": "Customer",
                "id": "5",
                "operation": "Update",
                "lastUpdated": "2026-11-22T10:00:01-0700",
            },
            {
                "name": "Customer",
                "id": "3",
                "operation": "Merge",
                "lastUpdated": "1763800000000",
                "deletedId": "9",
            },
        ),
        VERIFIER_TOKEN,
    )
    assert client.post(URL, data=body, headers=headers).json == {
        "received": 4,
        "stored": 3,
        "duplicates": 1,
    }
    merge = events(operation="merge")[0]
    assert (merge.record_id, merge.deleted_id) == ("3", "9")
    assert merge.occurred_at.year == 2025  # epoch milliseconds are understood


def test_cloudevent_merge_and_both_void_spellings(client, realm):
    add_mappings("""
mappings:
  - {name: invoices, quickbooks: Invoice, salesforce: Opportunity, realtime: true,
     fields: [{quickbooks: DocNumber, salesforce: Name}]}
""")
    body, headers = signed(
        [
            cloudevent(realm, "Customer", "123", "merged", "m1", {"deletedid": "27"}),
            cloudevent(realm, "Invoice", "40", "void", "v1"),
            cloudevent(realm, "Invoice", "41", "voided", "v2"),
        ],
        VERIFIER_TOKEN,
    )
    assert client.post(URL, data=body, headers=headers).status_code == 200
    merge = events(record_id="123")[0]
    assert (merge.operation, merge.deleted_id, merge.status) == ("merge", "27", "pending")
    assert [e.operation for e in events(entity="Invoice")] == ["void", "void"]


def test_several_companies_and_a_hundred_events_in_one_post(client, realm):
    add_company("4620816365000000001")
    batch = [
        cloudevent(
            realm if i % 2 else "4620816365000000001", "Customer", str(i), "updated", f"b{i}"
        )
        for i in range(120)
    ]
    body, headers = signed(batch, VERIFIER_TOKEN)
    response = client.post(URL, data=body, headers=headers)
    assert response.json["stored"] == 120
    keys = {e.sync_key for e in events()}
    assert len(keys) == 2
    assert len(queue.backend().queue) == 2


def test_unknown_company_disabled_object_and_unhandled_events_are_ignored(client, realm):
    add_mappings("""
mappings:
  - {name: vendors, quickbooks: Vendor, salesforce: Account, external_id: QBO_Vendor_Id__c,
     fields: [{quickbooks: DisplayName, salesforce: Name}]}
""")
    body, headers = signed(
        [
            cloudevent("555", "Customer", "1", "created", "a"),
            cloudevent(realm, "Vendor", "2", "created", "b"),
            cloudevent(realm, "Customer", "3", "emailed", "c"),
            cloudevent(realm, "Widget", "4", "created", "d"),
        ],
        VERIFIER_TOKEN,
    )
    assert client.post(URL, data=body, headers=headers).status_code == 200
    reasons = {e.dedupe_key: (e.status, e.reason) for e in events()}
    assert reasons["ce:a"] == ("ignored", "unknown company: realm 555 is not connected")
    assert reasons["ce:b"][0] == "ignored" and "real time is off for Vendor" in reasons["ce:b"][1]
    assert reasons["ce:c"] == ("ignored", "unhandled operation: emailed")
    assert reasons["ce:d"] == ("ignored", "unhandled entity: widget")
    assert len(queue.backend().queue) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b'"a string"',
        b'{"eventNotifications": "nope"}',
        b'[{"specversion": "1.0", "id": "x"}]',
    ],
)
def test_signed_but_unparseable_is_kept_as_malformed(client, realm, body):
    raw, headers = signed(body, VERIFIER_TOKEN)
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == 200  # a 400 would make Intuit retry the batch forever
    stored = events()
    assert [e.status for e in stored] == ["malformed"]
    assert stored[0].reason
    assert stored[0].payload


def test_body_over_the_limit_gets_413(app, client, realm):
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_WEBHOOK_BYTES"] = 1000
    body, headers = signed(
        [cloudevent(realm, "Customer", str(i), "updated", f"x{i}") for i in range(20)],
        VERIFIER_TOKEN,
    )
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"
    assert events() == []


def test_database_down_answers_503_so_intuit_retries(make_app, redis_url):
    app = make_app(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere", redis_url)
    body, headers = signed([cloudevent("1", "Customer", "1", "created", "z")], VERIFIER_TOKEN)
    response = app.test_client().post(URL, data=body, headers=headers)
    assert response.status_code == 503
    assert response.json["error"] == "database_unavailable"
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503
    assert ready.json["database"] == "down"


def test_redis_down_still_stores_and_the_sweeper_enqueues_later(make_app, database_url, realm):
    private = PrivateRedis().start()
    outage_app = make_app(database_url, private.url)
    client = outage_app.test_client()
    with outage_app.app_context():
        private.stop()
        body, headers = signed(
            [cloudevent(realm, "Customer", "7", "updated", "r1")], VERIFIER_TOKEN
        )
        response = client.post(URL, data=body, headers=headers)
        assert response.status_code == 200
        assert client.get("/readyz").json == {"database": "ok", "redis": "down"}
        assert [e.status for e in events()] == ["pending"]

        private.start()  # same port, empty: the flag and the job were never written
        from gateway.sweeper import sweep

        assert sweep()["keys"] == 1
        assert len(queue.backend().queue) == 1
        private.stop()


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json == {"database": "ok", "redis": "ok"}


def test_unknown_routes_answer_json(client):
    response = client.get("/nope")
    assert response.status_code == 404
    assert set(response.json) == {"error", "message"}


def test_a_company_connected_a_moment_ago_is_known_at_once(client, app):
    add_mappings()
    first, headers = signed([cloudevent("777", "Customer", "1", "created", "k1")], VERIFIER_TOKEN)
    client.post(URL, data=first, headers=headers)
    add_company("777")  # connected right after: the edge caches found companies only
    second, headers = signed([cloudevent("777", "Customer", "1", "updated", "k2")], VERIFIER_TOKEN)
    client.post(URL, data=second, headers=headers)
    assert [e.status for e in events()] == ["ignored", "pending"]


def test_switching_real_time_off_takes_effect_within_the_cache_time(client, app, realm):
    app.config["LOOKUP_CACHE_SECONDS"] = 0.2
    app.extensions.pop("gateway_lookups", None)
    body, headers = signed([cloudevent(realm, "Customer", "1", "updated", "t1")], VERIFIER_TOKEN)
    client.post(URL, data=body, headers=headers)
    db.session.execute(update(ObjectMapping).values(realtime=False))
    db.session.commit()
    time.sleep(0.25)
    body, headers = signed([cloudevent(realm, "Customer", "1", "updated", "t2")], VERIFIER_TOKEN)
    client.post(URL, data=body, headers=headers)
    assert [e.status for e in events()] == ["pending", "ignored"]
