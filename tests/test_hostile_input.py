"""Property-based tests of both HTTP edges on the real PostgreSQL and Redis: whatever arrives,
signed or not, the answer is never a 5xx, every error is JSON, and the valid events of a batch
are stored whatever else the batch holds.

The example counts are fixed and the generation derandomized, so a CI run is reproducible and
stays inside the suite's time budget.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from gateway.extensions import db
from gateway.inbound import callout_contract
from gateway.models import Event, EventStatus, utcnow
from tests.conftest import CALLOUT_SECRET, VERIFIER_TOKEN
from tests.support.factories import (
    add_company,
    add_mappings,
    callout_headers,
    classic,
    cloudevent,
    signed,
)

WEBHOOK = "/webhooks/quickbooks"
REALM = "9130350000001"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "PROPFIND"]


def hostile(examples: int):
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        # One app (and database) serves every example of a test; each example uses fresh ids.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# --- values a sender could put anywhere ---------------------------------------------------------

# Every code point, lone surrogates and NUL included.
any_char = st.characters(exclude_categories=())
short_text = st.text(any_char, max_size=20)
long_text = st.builds(lambda text, times: (text or "x") * times, short_text, st.integers(30, 400))
strings = st.one_of(
    short_text,
    long_text,
    st.sampled_from(["", " ", "\x00", "\ud800", "null", "0001-01-01T00:00:00+14:00"]),
    st.sampled_from(["9999-12-31T23:59:59-14:00", "99999999999999999999", "1e400", "-1"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(strings, children, max_size=5)
    ),
    max_leaves=25,
)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


big_values = st.one_of(
    st.integers(2, 95).map(lambda depth: json.loads(nested(depth))),  # under the depth bound
    st.integers(1, 20_000).map(lambda size: [0] * size),  # a huge array
)
field_values = st.one_of(scalars, json_values, big_values)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80)


def dumps(document) -> bytes:
    # ensure_ascii: NUL and lone surrogates travel as \u escapes, as a JSON sender writes them.
    return json.dumps(document).encode()


# --- fresh valid events, and hostile ones made from them ----------------------------------------

_serial = itertools.count()


def fresh_id() -> str:
    return f"p{next(_serial)}"


valid_cloudevents = st.builds(
    lambda operation: cloudevent(REALM, "Customer", fresh_id(), operation, fresh_id()),
    st.sampled_from(["created", "updated", "deleted", "merged", "void", "voided"]),
)
valid_classic_entities = st.builds(
    lambda operation: {
        "name": "Customer",
        "id": fresh_id(),
        "operation": operation,
        "lastUpdated": "2026-11-22T10:00:00-0700",
    },
    st.sampled_from(["Create", "Update", "Delete", "Merge"]),
)


@st.composite
def spoiled(draw, valid):
    """A valid event with fields replaced, removed or added: wrong types at every level."""
    event = dict(draw(valid))
    keys = list(event) + ["data", "extra", "deletedId"]
    for key in draw(st.lists(st.sampled_from(keys), min_size=1, max_size=4, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            event.pop(key, None)
        else:
            event[key] = draw(field_values)
    return draw(st.one_of(st.just(event), field_values))


def assert_stored_as_pending(response, dedupe_keys: list[str], since: datetime) -> None:
    """The batch was answered 200, each of these events waits to be synced, and every row the
    request stored reads back whole (a row psycopg cannot read would block its sync key)."""
    assert response.status_code == 200, response.get_data()[:500]
    db.session.rollback()
    rows = db.session.execute(select(Event).where(Event.received_at >= since)).scalars().all()
    stored = {row.dedupe_key: row.status for row in rows}
    for key in dedupe_keys:
        assert stored.get(key) == EventStatus.PENDING, key


def assert_json_error(response) -> None:
    assert response.status_code < 500, response.get_data()[:500]
    if response.status_code >= 400 and response.request.method != "HEAD":
        assert set(response.json) == {"error", "message"}, response.get_data()[:500]


# Any JSON at all, any bytes, or JSON nested deeper than the edges parse.
any_body = st.one_of(
    field_values.map(dumps),
    st.binary(max_size=300),
    st.integers(96, 3000).map(lambda depth: nested(depth).encode()),
)


@pytest.fixture
def connected(app):
    add_mappings()
    add_company(REALM)
    return app


# --- the webhook edge ---------------------------------------------------------------------------


@hostile(examples=1500)
@given(
    method=st.sampled_from(METHODS),
    body=any_body,
    sign=st.booleans(),
    headers=st.lists(
        st.tuples(
            st.sampled_from(["intuit-signature", "Content-Type", "X-Anything", "Content-Encoding"]),
            header_text,
        ),
        max_size=4,
    ),
)
def test_webhook_edge_answers_anything_without_a_5xx(
    connected, client, method, body, sign, headers
):
    if sign:
        headers = [*headers, *signed(body, VERIFIER_TOKEN)[1].items()]
    response = client.open(WEBHOOK, method=method, data=body, headers=headers)
    assert_json_error(response)
    if method == "POST" and not sign and not any(name == "intuit-signature" for name, _ in headers):
        assert response.status_code == 401
    if method == "POST" and sign and response.status_code != 401:
        # A repeated signature header may come first; otherwise a signed body is kept.
        assert response.status_code == 200


@hostile(examples=200)
@given(
    valid=st.lists(valid_cloudevents, min_size=1, max_size=5),
    bad=st.lists(spoiled(valid_cloudevents), min_size=1, max_size=5),
    order=st.randoms(use_true_random=False),
)
def test_a_cloudevents_batch_keeps_its_valid_events_whatever_else_it_holds(
    connected, client, valid, bad, order
):
    batch = valid + bad
    order.shuffle(batch)
    body, headers = signed(dumps(batch), VERIFIER_TOKEN)
    since = utcnow()
    response = client.post(WEBHOOK, data=body, headers=headers)
    assert_stored_as_pending(response, [f"ce:{REALM}:{event['id']}" for event in valid], since)


@hostile(examples=120)
@given(
    valid=st.lists(valid_classic_entities, min_size=1, max_size=5),
    bad=st.lists(spoiled(valid_classic_entities), max_size=5),
    bad_notifications=st.lists(field_values, max_size=2),
)
def test_a_classic_batch_keeps_its_valid_entities_whatever_else_it_holds(
    connected, client, valid, bad, bad_notifications
):
    document = classic(REALM, *bad, *valid)
    document["eventNotifications"] += bad_notifications
    body, headers = signed(dumps(document), VERIFIER_TOKEN)
    since = utcnow()
    response = client.post(WEBHOOK, data=body, headers=headers)
    fields = ("name", "id", "operation", "lastUpdated")
    keys = [":".join([REALM, *(entity[name] for name in fields)]) for entity in valid]
    assert_stored_as_pending(response, keys, since)


# --- the callout edge ---------------------------------------------------------------------------

CALLOUT = callout_contract.PATH
SIGNINGS = ["none", "good", "stale", "future", "wrong secret"]
callout_header_names = st.sampled_from(
    [callout_contract.TIMESTAMP_HEADER, callout_contract.SIGNATURE_HEADER, "Content-Type"]
)


def callout_signature(body: bytes, signing: str) -> list[tuple[str, str]]:
    if signing == "none":
        return []
    offset = {"stale": -301, "future": 600}.get(signing, 0)
    secret = "not-the-secret" if signing == "wrong secret" else CALLOUT_SECRET
    return list(callout_headers(secret, body, time.time() + offset).items())


valid_records = st.builds(
    lambda second: {
        "id": "001" + fresh_id().rjust(15, "0"),
        "modstamp": f"2026-11-22T10:{second}Z",
    },
    st.integers(10, 59).map(lambda s: f"00:{s}"),
)


def callout_body(records: list, **fields) -> dict:
    return {
        "orgId": "00D000000000001EAA",
        "companyId": REALM,
        "object": "Account",
        "operation": "upsert",
        "records": records,
        **fields,
    }


@hostile(examples=1500)
@given(
    method=st.sampled_from(METHODS),
    body=st.one_of(
        any_body,
        st.builds(
            lambda records, fields: dumps(callout_body(records) | fields),
            st.lists(valid_records, max_size=3),
            st.dictionaries(st.sampled_from(list(callout_contract.BODY_KEYS)), field_values),
        ),
    ),
    signing=st.sampled_from(SIGNINGS),
    headers=st.lists(st.tuples(callout_header_names, header_text), max_size=4),
)
def test_callout_edge_answers_anything_without_a_5xx(
    connected, client, method, body, signing, headers
):
    sent = [*headers, *callout_signature(body, signing)]
    response = client.open(CALLOUT, method=method, data=body, headers=sent)
    assert_json_error(response)
    if method == "POST" and signing != "good":
        assert response.status_code == 401
    if method == "POST" and signing == "good" and not headers:
        assert response.status_code in (200, 400)


@hostile(examples=150)
@given(
    valid=st.lists(valid_records, min_size=1, max_size=5),
    bad=st.lists(spoiled(valid_records), min_size=1, max_size=5),
    kind=st.sampled_from([None, "Customer", "customer"]),
    order=st.randoms(use_true_random=False),
)
def test_a_callout_keeps_its_valid_records_whatever_else_it_holds(
    connected, client, valid, bad, kind, order
):
    records = valid + bad
    order.shuffle(records)
    body = dumps(callout_body(records, type=kind))
    since = utcnow()
    response = client.post(CALLOUT, data=body, headers=callout_signature(body, "good"))
    keys = [f"sf:{REALM}:Account:{record['id']}:upsert:{record['modstamp']}" for record in valid]
    assert_stored_as_pending(response, keys, since)


@hostile(examples=60)
@given(
    count=st.sampled_from([0, 1, 199, 200, 201]),
    fields=st.dictionaries(
        st.sampled_from(list(callout_contract.BODY_KEYS)), field_values, max_size=2
    ),
)
def test_a_callout_of_any_size_and_shape_is_stored_or_refused_clearly(
    connected, client, count, fields
):
    records = [
        {"id": "001" + fresh_id().rjust(15, "0"), "modstamp": "2026-11-22T10:00:00Z"}
        for _ in range(count)
    ]
    body = dumps(callout_body(records) | fields)
    response = client.post(CALLOUT, data=body, headers=callout_signature(body, "good"))
    assert response.status_code in (200, 400), response.get_data()[:500]
    if response.status_code == 400:
        assert set(response.json) == {"error", "message"}
    if not fields:
        assert response.status_code == (400 if count > callout_contract.MAX_RECORDS else 200)
