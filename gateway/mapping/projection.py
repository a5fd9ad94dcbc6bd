"""What one side already holds of a mapping, in the shape the other direction's mapping produces.

The payload hash of a direction is kept per record link. After we read or write a record on one
side, its projection (the values at the paths the other direction writes) is hashed and stored,
so when the other platform tells us about the same content (our own write echoed back, or a
change of a field we do not map) the freshly mapped payload hashes equal and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.mapping import clean_quickbooks_record, payload_hash
from gateway.mapping.coerce import value_key
from gateway.mapping.lines import LineMapping
from gateway.mapping.paths import get_path, set_path


def _rules_towards(spec: Mapping[str, Any], direction: str, target_key: str) -> list[Mapping]:
    return [
        rule
        for rule in spec.get("fields", ())
        if rule.get("direction", spec.get("direction", "both")) in (direction, "both")
        and target_key in rule
    ]


def quickbooks_projection(record: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The values a QuickBooks record has at the paths Salesforce → QuickBooks writes."""
    cleaned = clean_quickbooks_record(record)
    body: dict[str, Any] = {}
    for rule in _rules_towards(spec, "salesforce_to_quickbooks", "quickbooks"):
        value = get_path(cleaned, rule["quickbooks"])
        if value is not None and not (isinstance(value, str) and not value.strip()):
            set_path(body, rule["quickbooks"], value)
    return body


def salesforce_fields(spec: Mapping[str, Any]) -> list[str]:
    """The Salesforce fields QuickBooks → Salesforce writes (the delete flag aside)."""
    return [
        rule["salesforce"]
        for rule in _rules_towards(spec, "quickbooks_to_salesforce", "salesforce")
    ]


def salesforce_projection(record: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """The values a Salesforce record has in the fields QuickBooks → Salesforce writes."""
    return {name: record.get(name) for name in salesforce_fields(spec)}


def _same(left: Any, right: Any) -> bool:
    blank = (None, "")
    if left in blank or right in blank:
        return left in blank and right in blank
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    return value_key(left) == value_key(right)


def salesforce_differences(payload: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `payload` whose value the Salesforce `record` does not hold yet."""
    return {name: value for name, value in payload.items() if not _same(value, record.get(name))}


def pruned(value: Any) -> Any:
    """Without None values and the objects left empty by removing them: a payload that clears
    BillAddr.City and a record without a BillAddr hold the same content."""
    if isinstance(value, Mapping):
        kept = {key: pruned(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item is not None and item != {}}
    if isinstance(value, list):
        return [pruned(item) for item in value]
    return value


def quickbooks_content_hash(body: Mapping[str, Any], lines: LineMapping | None = None) -> str:
    """The payload hash of a QuickBooks body (a mapped payload, or a record's projection), its
    item lines compared by their mapped content only (not their ids or order)."""
    content = pruned(dict(body))
    if lines is not None:
        content["Line"] = lines.hashable(list(body.get("Line") or []))
    return payload_hash(content)


def recorded_quickbooks_hash(
    record: Mapping[str, Any], spec: Mapping[str, Any], lines: LineMapping | None = None
) -> str:
    """The hash of what a QuickBooks record holds of the mapping: equal to the hash of the
    mapped Salesforce record when that would change nothing."""
    projection = quickbooks_projection(record, spec)
    if lines is not None:
        projection["Line"] = list(record.get("Line") or [])
    return quickbooks_content_hash(projection, lines)


def salesforce_content_hash(payload: Mapping[str, Any], line_rows: list[dict] | None) -> str:
    """The payload hash of a Salesforce record's mapped fields and, for a mapping with lines,
    of its child records (compared as a set)."""
    content = dict(payload)
    if line_rows is not None:
        content["_lines"] = sorted(payload_hash(row) for row in line_rows)
    return payload_hash(content)
