"""POST /webhooks/quickbooks: verify Intuit's signature, store each entity event, enqueue, 200."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, jsonify, request

from .. import queue
from ..errors import error_response
from ..inbox import IncomingEvent, store
from ..mapping import QUICKBOOKS_TO_SALESFORCE
from ..models import EventStatus
from ..sync_key import FROM_QUICKBOOKS, SyncKey
from . import quickbooks_format
from .body import read_body
from .lookups import lookups
from .signatures import verify_intuit

log = logging.getLogger(__name__)
bp = Blueprint("quickbooks_webhooks", __name__)
SOURCE = "quickbooks"


@bp.post("/webhooks/quickbooks")
def receive():
    body = read_body()  # the raw bytes Intuit signed (never re-serialised); 413 comes first
    tokens = current_app.config["QBO_WEBHOOK_VERIFIER_TOKENS"]
    if not verify_intuit(body, request.headers.get("intuit-signature"), tokens):
        message = (
            "The intuit-signature header does not match the body for any verifier token."
            if tokens
            else "No QBO_WEBHOOK_VERIFIER_TOKENS are configured, so no webhook can be verified."
        )
        return error_response(401, "invalid_signature", message)

    events = classify(quickbooks_format.parse(body))
    stored, keys = store(events)
    queue.schedule_syncs(sorted(keys))
    # Intuit retries the whole batch on anything but 200, so a stored batch is always a 200.
    return jsonify(received=len(events), stored=stored, duplicates=len(events) - stored)


def classify(items: list) -> list[IncomingEvent]:
    changes = [item for item in items if isinstance(item, quickbooks_format.Change)]
    known = lookups()
    companies = known.company_ids({change.realm_id for change in changes}) if changes else {}
    realtime = (
        known.realtime_objects(QUICKBOOKS_TO_SALESFORCE, companies.values()) if changes else {}
    )
    return [
        _incoming(item, companies, realtime)
        if isinstance(item, quickbooks_format.Change)
        else IncomingEvent(
            source=SOURCE,
            dedupe_key=item.dedupe_key,
            status=EventStatus.MALFORMED,
            reason=item.reason,
            payload=item.payload,
        )
        for item in items
    ]


def _incoming(
    change, companies: dict[str, int], realtime: dict[int, frozenset[str]]
) -> IncomingEvent:
    company_id = companies.get(change.realm_id)
    event = IncomingEvent(
        source=SOURCE,
        dedupe_key=change.dedupe_key,
        account_id=change.realm_id,
        company_id=company_id,
        entity=change.entity or change.entity_name,
        record_id=change.record_id,
        operation=change.operation or change.operation_name,
        deleted_id=change.deleted_id,
        occurred_at=change.occurred_at,
        payload=change.payload,
    )
    reason = None
    if company_id is None:
        reason = f"unknown company: realm {change.realm_id} is not connected"
    elif change.entity is None:
        reason = f"unhandled entity: {change.entity_name}"
    elif change.operation is None or change.operation == "emailed":
        reason = f"unhandled operation: {change.operation_name}"
    elif change.entity not in realtime.get(company_id, ()):
        reason = (
            f"real time is off for {change.entity} in company {change.realm_id} "
            "(no real-time mapping to Salesforce)"
        )
    if reason:
        event.status, event.reason = EventStatus.IGNORED, reason
    else:
        event.sync_key = str(SyncKey(FROM_QUICKBOOKS, company_id, change.entity))
    return event


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
