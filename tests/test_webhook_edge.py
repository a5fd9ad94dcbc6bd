"""POST /webhooks/quickbooks: signatures, both formats, dedupe, ignored and malformed events,
size limit, outages. The sync itself is covered end to end elsewhere."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import update

from gateway import queue
from gateway.extensions import db
from gateway.models import EventStatus, ObjectMapping
from tests.conftest import VERIFIER_TOKEN
from tests.support.factories import (
    add_company,
    add_mappings,
    classic,
    cloudevent,
    shared_file,
    signed,
)
from tests.support.factories import (
    stored_events as events,
)
from tests.support.services import PrivateRedis, free_port

URL = "/webhooks/quickbooks"


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
    assert reasons["ce:555:a"] == ("ignored", "unknown company: realm 555 is not connected")
    assert (
        reasons[f"ce:{realm}:b"][0] == "ignored"
        and "real time is off for Vendor" in reasons[f"ce:{realm}:b"][1]
    )
    assert reasons[f"ce:{realm}:c"] == ("ignored", "unhandled operation: emailed")
    assert reasons[f"ce:{realm}:d"] == ("ignored", "unhandled entity: widget")
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


# --- hostile input: each cause found in issue 5 -------------------------------------------------


def test_a_non_ascii_signature_is_refused_not_a_crash(client, realm):
    body = json.dumps([cloudevent(realm, "Customer", "1", "created", "e1")])
    response = client.post(URL, data=body, headers={"intuit-signature": "sïgnätüre=="})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"
    assert events() == []


def test_one_event_that_cannot_be_stored_never_loses_its_batch(client, realm):
    odd = [
        cloudevent(realm, "Customer", "2", "reclassifiedbyrule", "odd-op"),
        cloudevent(realm, "Customer", "7" * 100, "updated", "long-id"),
        cloudevent(realm, "Customer", "nul\x00id", "updated", "nul-id"),
        cloudevent(realm, "Customer", "lone\ud800", "updated", "surrogate-id"),
        cloudevent("9" * 40, "Customer", "3", "updated", "long-realm"),
        cloudevent("nul\x00realm", "Customer", "3", "updated", "nul-realm"),
        cloudevent(realm, "Customer", "4", "updated", "nul\x00event-id"),
        cloudevent(realm, "Customer", "4", "merged", "long-merged", {"deletedid": "8" * 65}),
    ]
    good = [cloudevent(realm, "Customer", str(i), "updated", f"good-{i}") for i in range(3)]
    body = json.dumps(good[:1] + odd + good[1:])  # ASCII escapes: \u0000 and \ud800 in the JSON
    raw, headers = signed(body, VERIFIER_TOKEN)
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == 200
    assert response.json["stored"] == len(odd) + len(good)
    pending = events(status=EventStatus.PENDING)
    assert sorted(e.record_id for e in pending) == ["0", "1", "2", "4"]  # "4": the NUL event id
    by_key = {e.dedupe_key: e for e in events()}
    unusual = by_key[f"ce:{realm}:odd-op"]
    assert (unusual.status, unusual.operation) == (EventStatus.IGNORED, None)
    assert "unhandled operation: reclassifiedbyrule" in unusual.reason
    assert "operation is 18 characters long" in unusual.reason
    long_id = by_key[f"ce:{realm}:long-id"]
    assert (long_id.status, long_id.record_id) == (EventStatus.MALFORMED, None)
    assert "record_id is 100 characters long (the column holds 64)" in long_id.reason
    assert json.loads(long_id.payload)["intuitentityid"] == "7" * 100  # the raw is kept
    for key in ("nul-id", "surrogate-id"):
        event = by_key[f"ce:{realm}:{key}"]
        assert event.status == EventStatus.MALFORMED
        assert "NUL or a lone surrogate" in event.reason
    for event in events(status=EventStatus.IGNORED):
        assert event.reason and event.payload
    assert len(events(status=EventStatus.IGNORED)) == 3  # odd op and the two unstorable realms
    merged = events(operation="merge")[0]
    assert merged.status == EventStatus.MALFORMED and "deleted_id is 65" in merged.reason


@pytest.mark.parametrize(
    ("entity", "pending"),
    [
        ({"name": "C" * 200, "id": "1", "operation": "Create"}, ["5"]),
        ({"name": "Customer", "id": "1", "operation": "O" * 20}, ["5"]),
        ({"name": "Customer", "id": "1\x00", "operation": "Update"}, ["5"]),
        # Only the dedupe key holds lastUpdated as sent: hashed, the event itself is good.
        (
            {"name": "Customer", "id": "1", "operation": "Update", "lastUpdated": "\ud800" * 300},
            ["1", "5"],
        ),
    ],
)
def test_a_classic_entity_that_cannot_be_stored_is_kept_beside_the_good_one(
    client, realm, entity, pending
):
    good = {"name": "Customer", "id": "5", "operation": "Update", "lastUpdated": "1763800000000"}
    raw, headers = signed(classic(realm, entity, good), VERIFIER_TOKEN)
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == 200
    assert [e.record_id for e in events(status=EventStatus.PENDING)] == pending
    assert len(events()) == 2


@pytest.mark.parametrize("body", [b"\x00\x01not json\x00", b"\xff\xfe\x00{", b'"\\u0000\\ud800"'])
def test_a_signed_body_with_nul_or_bad_unicode_is_kept_as_malformed(client, realm, body):
    raw, headers = signed(body, VERIFIER_TOKEN)
    response = client.post(URL, data=raw, headers=headers)
    assert response.status_code == 200
    [stored] = events()
    assert stored.status == EventStatus.MALFORMED
    assert "\x00" not in stored.payload and stored.payload


def test_json_nested_a_thousand_deep_is_malformed_not_a_crash(client, realm):
    deep = [cloudevent(realm, "Customer", "1", "created", "d1") | {"data": {}}]
    raw = json.dumps(deep).replace('"data": {}', '"data": ' + "[" * 1000 + "]" * 1000)
    body, headers = signed(raw, VERIFIER_TOKEN)
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 200
    [stored] = events()
    assert stored.status == EventStatus.MALFORMED
    assert "nested 1002 levels deep" in stored.reason
    unsigned = client.post(URL, data="[" * 100_000)
    assert unsigned.status_code == 401


@pytest.mark.parametrize("last_updated", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_that_would_not_read_back_is_dropped_and_the_event_syncs(
    client, realm, last_updated
):
    from gateway import inbox

    entity = {"name": "Customer", "id": "5", "operation": "Update", "lastUpdated": last_updated}
    raw, headers = signed(classic(realm, entity), VERIFIER_TOKEN)
    assert client.post(URL, data=raw, headers=headers).status_code == 200
    [stored] = events()
    assert stored.occurred_at is None
    assert last_updated in stored.payload
    [claimed] = inbox.claim(stored.sync_key, 10, "a-test-run")
    assert claimed.status == EventStatus.PROCESSING


def test_claim_fails_a_row_that_cannot_be_read_instead_of_stranding_the_others(app, realm):
    """A row stored before store() checked times (or by hand) must not block its sync key."""
    from sqlalchemy import text

    from gateway import inbox

    key = "qbo:1:Customer"
    db.session.execute(
        text(
            "INSERT INTO events (source, dedupe_key, sync_key, status, attempts, occurred_at, "
            "received_at, updated_at) VALUES "
            "('quickbooks', 'a', :key, 'pending', 0, now(), now(), now()), "
            "('quickbooks', 'b', :key, 'pending', 0, '9999-12-31T23:59:59-14:00', now(), now()), "
            "('quickbooks', 'c', :key, 'pending', 0, NULL, now(), now())"
        ),
        {"key": key},
    )
    db.session.commit()
    claimed = inbox.claim(key, 10, "a-test-run")
    assert [e.dedupe_key for e in claimed] == ["a", "c"]
    statuses = dict(db.session.execute(text("SELECT dedupe_key, status FROM events")).all())
    assert statuses == {"a": "processing", "b": "failed", "c": "processing"}
    reason = db.session.execute(text("SELECT reason FROM events WHERE dedupe_key = 'b'")).scalar()
    assert "cannot be read back" in reason


def test_a_chunked_body_over_the_limit_gets_413_before_the_signature_check(
    app, realm, live_gateway
):
    import requests

    app.config["MAX_WEBHOOK_BYTES"] = 1000
    batch = [cloudevent(realm, "Customer", str(i), "updated", f"x{i}") for i in range(20)]
    body, headers = signed(batch, VERIFIER_TOKEN)
    over = requests.post(
        live_gateway.url + URL, data=iter([body[:500], body[500:]]), headers=headers, timeout=10
    )
    assert over.status_code == 413
    assert over.json()["error"] == "request_entity_too_large"
    unsigned = requests.post(live_gateway.url + URL, data=iter([body]), timeout=10)
    assert unsigned.status_code == 413  # the size is known before anything is verified
    small, headers = signed(batch[:2], VERIFIER_TOKEN)
    exact = small + b" " * (1000 - len(small))  # exactly the limit is allowed
    headers["intuit-signature"] = signed(exact, VERIFIER_TOKEN)[1]["intuit-signature"]
    fits = requests.post(live_gateway.url + URL, data=iter([exact]), headers=headers, timeout=10)
    assert fits.status_code == 200
    assert len(events()) == 2


def test_dedupe_keys_carry_the_company_and_the_record_merged_away(client, realm):
    add_company("4620816365000000001")
    body, headers = signed(
        [
            cloudevent(realm, "Customer", "1", "updated", "same-id"),
            cloudevent("4620816365000000001", "Customer", "1", "updated", "same-id"),
        ],
        VERIFIER_TOKEN,
    )
    assert client.post(URL, data=body, headers=headers).json["stored"] == 2
    merges = [
        {"name": "Customer", "id": "3", "operation": "Merge", "lastUpdated": "1763800000000"}
        | {"deletedId": merged_away}
        for merged_away in ("9", "10")
    ]
    body, headers = signed(classic(realm, *merges), VERIFIER_TOKEN)
    assert client.post(URL, data=body, headers=headers).json["stored"] == 2
    assert sorted(e.deleted_id for e in events(operation="merge")) == ["10", "9"]


def test_a_wrong_method_gets_json_naming_the_allowed_ones(client):
    for path in ("/webhooks/quickbooks", "/callouts/salesforce"):
        response = client.put(path, data=b"{}")
        assert response.status_code == 405
        assert response.json["error"] == "method_not_allowed"
        assert "POST" in response.headers["Allow"]
