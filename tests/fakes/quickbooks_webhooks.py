"""Webhook bodies in Intuit's two formats, and their `intuit-signature`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from .quickbooks_store import Event

MAX_EVENTS_PER_POST = 100  # Intuit: "Up to 100 events can be batched in a single notification"
CLOUDEVENT_OPERATIONS = {
    "Create": "created",
    "Update": "updated",
    "Delete": "deleted",
    "Merge": "merged",
    "Void": "voided",
}
SOURCE = "intuit." + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(verifier_token: str, body: bytes) -> str:
    digest = hmac.new(verifier_token.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _ns_time(time_ns: int) -> str:
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def cloudevent(event: Event) -> dict:
    data = {"deletedid": event.deleted_id} if event.deleted_id else {}
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": SOURCE,
        "type": f"qbo.{event.entity.lower()}.{CLOUDEVENT_OPERATIONS[event.operation]}.v1",
        "datacontenttype": "application/json",
        "time": _ns_time(event.time_ns),
        "intuitentityid": event.id,
        "intuitaccountid": event.realm,
        "data": data,
    }


def classic(events: list[Event]) -> dict:
    by_realm: dict[str, list[dict]] = {}
    for event in events:
        entity = {
            "name": event.entity,
            "id": event.id,
            "operation": event.operation,
            "lastUpdated": event.last_updated,
        }
        if event.deleted_id:
            entity["deletedId"] = event.deleted_id
        by_realm.setdefault(event.realm, []).append(entity)
    return {
        "eventNotifications": [
            {"realmId": realm, "dataChangeEvent": {"entities": entities}}
            for realm, entities in by_realm.items()
        ]
    }


def packer(get_format: Callable[[], str]) -> Callable[[list[Event]], list[tuple[bytes, str]]]:
    def pack(events: list[Event]) -> list[tuple[bytes, str]]:
        fmt = get_format()
        bodies = []
        for i in range(0, len(events), MAX_EVENTS_PER_POST):
            chunk = events[i : i + MAX_EVENTS_PER_POST]
            if fmt == "classic":
                bodies.append((json.dumps(classic(chunk)).encode(), "application/json"))
            else:
                payload = [cloudevent(e) for e in chunk]
                bodies.append((json.dumps(payload).encode(), "application/cloudevents+json"))
        return bodies

    return pack
