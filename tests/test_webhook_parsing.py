"""Parsing Intuit's two webhook formats (pure), against the published samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gateway.inbound import callout_contract
from gateway.inbound.quickbooks_format import Change, Unparsed, parse, parse_time
from gateway.inbound.signatures import verify_gateway, verify_intuit
from tests.support.factories import shared_file


def samples() -> dict:
    return json.loads(shared_file("vectors", "webhook-payload-samples.json").read_text())


def test_every_published_sample_parses():
    found = {}
    for name, sample in samples().items():
        if name.startswith("_"):
            continue
        items = parse(json.dumps(sample["payload"]).encode())
        assert items and all(isinstance(item, Change) for item in items), name
        found[name] = items
    docs = found["legacy_docs_sample"]
    assert [(c.realm_id, c.entity, c.record_id, c.operation) for c in docs] == [
        ("1185883450", "Customer", "1", "create"),
        ("1185883450", "Vendor", "1", "create"),
    ]
    [blog] = found["cloudevents_blog_sample"]
    assert (blog.entity, blog.operation, blog.record_id, blog.realm_id) == (
        "Account",
        "create",
        "1234",
        "310687",
    )
    assert blog.dedupe_key == "ce:310687:88cd52aa-33b6-4351-9aa4-47572edbd068"
    assert blog.occurred_at == datetime(2025, 9, 10, 21, 31, 25, 179851, tzinfo=UTC)
    [merged] = found["cloudevents_customer_merged_docs_sample"]
    assert (merged.operation, merged.record_id, merged.deleted_id) == ("merge", "123", "27")


def test_type_names_map_case_insensitively_onto_entities():
    [change] = parse(
        json.dumps(
            [
                {
                    "specversion": "1.0",
                    "id": "1",
                    "type": "qbo.JournalEntry.Updated.v1",
                    "intuitaccountid": "9",
                    "intuitentityid": "3",
                }
            ]
        ).encode()
    )
    assert (change.entity, change.operation) == ("JournalEntry", "update")


def test_timestamps_in_all_seen_forms():
    assert parse_time("2015-10-05T14:42:19-0700") == datetime(2015, 10, 5, 21, 42, 19, tzinfo=UTC)
    assert parse_time("2016-10-05T03:09:04.000Z").tzinfo is not None
    assert parse_time("1444081339000") == datetime(2015, 10, 5, 21, 42, 19, tzinfo=UTC)
    assert parse_time("yesterday") is None


def test_a_bad_item_in_a_good_batch_is_kept_alone_as_unparsed():
    items = parse(
        json.dumps(
            [
                {
                    "specversion": "1.0",
                    "id": "1",
                    "type": "qbo.customer.created.v1",
                    "intuitaccountid": "9",
                    "intuitentityid": "3",
                },
                {"specversion": "1.0", "type": "garbage"},
            ]
        ).encode()
    )
    assert isinstance(items[0], Change)
    assert isinstance(items[1], Unparsed) and "CloudEvent without" in items[1].reason


def test_signature_checks():
    assert verify_intuit(b"{}", "bad", ["t"]) is False
    assert verify_intuit(b"{}", None, ["t"]) is False
    assert verify_intuit(b"{}", "x", []) is False
    signature = callout_contract.signature("s", "1000", b"{}")
    assert verify_gateway(b"{}", "1000", signature, ["s"], 300, now=1100) is None
    assert (
        verify_gateway(
            b"{}", "1000", signature.upper().replace("SHA256", "sha256"), ["s"], 300, now=1100
        )
        is None
    )
    assert "away" in verify_gateway(b"{}", "1000", signature, ["s"], 300, now=1000 + 601)
    assert "away" in verify_gateway(b"{}", "1000", signature, ["s"], 300, now=1000 - 600)
    assert verify_gateway(b"{ }", "1000", signature, ["s"], 300, now=1000) == (
        "signature does not match"
    )


def test_nesting_depth_ignores_brackets_in_strings_and_bounds_parsing():
    from gateway.inbound.body import MAX_JSON_DEPTH, NotJson, nesting_depth, parse_json

    assert nesting_depth(b'[{"a": "[[[{{", "b": [1, [2]]}]') == 4
    assert nesting_depth(rb'["\"[[[", "\\", [[]]]') == 3  # escaped quotes and backslashes
    assert nesting_depth(b'"unterminated [[[[') == 0
    at_bound = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(at_bound) is not None
    # Many brackets, shallow: parsed (the scan runs, and says it is fine).
    wide = json.dumps([[i] for i in range(500)]).encode()
    assert len(parse_json(wide)) == 500
    with pytest.raises(NotJson, match=f"nested {MAX_JSON_DEPTH + 1} levels deep"):
        parse_json(b"[" + at_bound + b"]")
