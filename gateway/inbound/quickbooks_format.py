"""Parse Intuit webhook bodies, classic (`eventNotifications`) and CloudEvents, into changes.

Pure functions: bytes in, `Change` and `Unparsed` items out. Which company or mapping a change
belongs to is decided by the caller.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..qbo_entities import canonical_entity
from .body import NotJson, parse_json

OPERATIONS = {
    "create": "create", "created": "create",
    "update": "update", "updated": "update",
    "delete": "delete", "deleted": "delete",
    "merge": "merge", "merged": "merge",
    "void": "void", "voided": "void",
    "emailed": "emailed",
}  # fmt: skip
CLOUDEVENT_TYPE = re.compile(r"^qbo\.(?P<entity>[a-z0-9_]+)\.(?P<operation>[a-z]+)\.v\d+$", re.I)


@dataclass(frozen=True)
class Change:
    dedupe_key: str
    realm_id: str
    entity_name: str  # as sent
    entity: str | None  # canonical QBO name, None when unknown
    record_id: str
    operation_name: str  # as sent
    operation: str | None  # normalised, None when unknown
    deleted_id: str | None
    occurred_at: datetime | None
    payload: str


@dataclass(frozen=True)
class Unparsed:
    dedupe_key: str
    reason: str
    payload: str


def _digest(text: str | bytes) -> str:
    return hashlib.sha256(text if isinstance(text, bytes) else text.encode()).hexdigest()


def parse_time(value: Any) -> datetime | None:
    """Intuit sends ISO-8601 with or without a colon in the offset, or epoch milliseconds."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def parse(body: bytes) -> list[Change | Unparsed]:
    try:
        document = parse_json(body)
    except NotJson as exc:
        return [Unparsed("body:" + _digest(body), str(exc), _decode(body))]
    if isinstance(document, dict) and "eventNotifications" in document:
        return _parse_classic(document, body)
    if isinstance(document, dict) and "specversion" in document:
        document = [document]  # a lone CloudEvent rather than a batch of one
    if isinstance(document, list):
        return [_parse_cloudevent(item) for item in document]
    return [Unparsed("body:" + _digest(body), "neither Intuit webhook format", _decode(body))]


def _with_merged_away(key: str, deleted_id: str | None) -> str:
    # Two merges into one survivor differ only by the record merged away.
    return f"{key}:{deleted_id}" if deleted_id else key


def _decode(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _parse_classic(document: dict, body: bytes) -> list[Change | Unparsed]:
    notifications = document.get("eventNotifications")
    if not isinstance(notifications, list):
        return [
            Unparsed("body:" + _digest(body), "eventNotifications is not a list", _decode(body))
        ]
    changes: list[Change | Unparsed] = []
    for notification in notifications:
        realm, entities = None, None
        if isinstance(notification, dict):
            realm = _text(notification.get("realmId"))
            change = notification.get("dataChangeEvent")
            entities = change.get("entities") if isinstance(change, dict) else None
        if not realm or not isinstance(entities, list):
            raw = json.dumps(notification, sort_keys=True)
            changes.append(
                Unparsed(
                    "item:" + _digest(raw),
                    "notification without realmId or dataChangeEvent.entities",
                    raw,
                )
            )
            continue
        for entity in entities:
            changes.append(_classic_entity(realm, entity))
    return changes


def _classic_entity(realm: str, item: Any) -> Change | Unparsed:
    raw = json.dumps(item, sort_keys=True)
    if not isinstance(item, dict):
        return Unparsed("item:" + _digest(raw), "entity is not an object", raw)
    name, record_id = _text(item.get("name")), _text(item.get("id"))
    operation_name, last_updated = _text(item.get("operation")), _text(item.get("lastUpdated"))
    if not (name and record_id and operation_name):
        return Unparsed("item:" + _digest(raw), "entity without name, id or operation", raw)
    deleted_id = _text(item.get("deletedId") or item.get("deletedid"))
    return Change(
        # Repeated edits of one record differ by lastUpdated and are all kept.
        dedupe_key=_with_merged_away(
            f"{realm}:{name}:{record_id}:{operation_name}:{last_updated or ''}", deleted_id
        ),
        realm_id=realm,
        entity_name=name,
        entity=canonical_entity(name),
        record_id=record_id,
        operation_name=operation_name,
        operation=OPERATIONS.get(operation_name.lower()),
        deleted_id=deleted_id,
        occurred_at=parse_time(last_updated),
        payload=raw,
    )


def _parse_cloudevent(item: Any) -> Change | Unparsed:
    raw = json.dumps(item, sort_keys=True)
    if not isinstance(item, dict):
        return Unparsed("item:" + _digest(raw), "CloudEvent is not an object", raw)
    event_id = _text(item.get("id"))
    realm = _text(item.get("intuitaccountid"))
    record_id = _text(item.get("intuitentityid"))
    match = CLOUDEVENT_TYPE.match(_text(item.get("type")) or "")
    if not (event_id and realm and record_id and match):
        return Unparsed(
            "item:" + _digest(raw),
            "CloudEvent without id, intuitaccountid, intuitentityid or a qbo.<entity>.<op>.vN type",
            raw,
        )
    data = item.get("data") if isinstance(item.get("data"), dict) else {}
    deleted_id = _text(data.get("deletedid") or data.get("deletedId"))
    return Change(
        # CloudEvents ids are unique per source only, so the company is part of the key.
        dedupe_key=_with_merged_away(f"ce:{realm}:{event_id}", deleted_id),
        realm_id=realm,
        entity_name=match["entity"],
        entity=canonical_entity(match["entity"]),
        record_id=record_id,
        operation_name=match["operation"],
        operation=OPERATIONS.get(match["operation"].lower()),
        deleted_id=deleted_id,
        occurred_at=parse_time(item.get("time")),
        payload=raw,
    )
