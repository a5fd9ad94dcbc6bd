"""POST /callouts/salesforce: verify the Apex callout's signature, store each record, enqueue."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy import select

from .. import queue
from ..errors import error_response
from ..extensions import db
from ..inbox import IncomingEvent, store
from ..models import Company, EventStatus
from ..qbo_entities import canonical_entity
from . import callout_contract, salesforce_format
from .body import read_body
from .callout_routing import SOURCE, default_company, no_default_reason, realtime_types, route
from .salesforce_format import BadCallout, Callout, UnparsedRecord
from .signatures import verify_gateway
from .storable import fits

bp = Blueprint("salesforce_callouts", __name__)


@bp.post(callout_contract.PATH)
def receive():
    body = read_body()  # the exact bytes the Apex signed; 413 comes before anything else
    secrets = current_app.config["SF_CALLOUT_SECRETS"]
    problem = (
        verify_gateway(
            body,
            request.headers.get(callout_contract.TIMESTAMP_HEADER),
            request.headers.get(callout_contract.SIGNATURE_HEADER),
            secrets,
            current_app.config["CALLOUT_MAX_SKEW_SECONDS"],
        )
        if secrets
        else "no SF_CALLOUT_SECRETS are configured, so no callout can be verified"
    )
    if problem:
        return error_response(
            401,
            "invalid_signature",
            f"The callout was not accepted: {problem}. Nothing was stored.",
        )
    try:
        callout = salesforce_format.parse(body)
    except BadCallout as exc:
        return error_response(400, exc.code, f"{exc.message} Nothing was stored.")
    events = classify(callout)
    stored, keys = store(events)
    queue.schedule_syncs(sorted(keys))
    return jsonify(received=len(events), stored=stored, duplicates=len(events) - stored)


def classify(callout: Callout) -> list[IncomingEvent]:
    company, realm, company_problem = _company(callout.company_realm)
    types = realtime_types(company, callout.object) if company else frozenset()
    # The type as QuickBooks spells it when it is one, else as sent (and then ignored).
    target_type = callout.type and (canonical_entity(callout.type) or callout.type)
    events = []
    for record in callout.records:
        event = IncomingEvent(
            source=SOURCE,
            dedupe_key="",
            account_id=callout.org_id,
            company_id=company.id if company else None,
            entity=callout.object,
            target_type=target_type,
            payload=record.payload,
        )
        if isinstance(record, UnparsedRecord):
            event.dedupe_key = f"sf:{realm}:{callout.object}:item:{record.digest}"
            event.status, event.reason = EventStatus.MALFORMED, record.reason
            events.append(event)
            continue
        # Deduplicated by (company, object, id, modstamp): a redelivered call stores nothing.
        event.dedupe_key = f"sf:{realm}:{callout.object}:{record.id}:{record.modstamp}"
        event.record_id, event.occurred_at = record.id, record.occurred_at
        # An undelete is an upsert (recreate or reactivate); the payload keeps what was sent.
        event.operation = "delete" if callout.operation == "delete" else "upsert"
        if company_problem:
            event.status, event.reason = company_problem
            # Retried once a default company is set (callout_routing), not by the sweeper.
            event.retryable = True if event.status == EventStatus.FAILED else None
        else:
            status, detail = route(company.id, callout.object, target_type, types)
            if status == EventStatus.PENDING:
                event.sync_key = detail
            else:
                event.status, event.reason = status, detail
        events.append(event)
    return events


def _company(realm: str | None) -> tuple[Company | None, str, tuple[str, str] | None]:
    """(company, realm for the dedupe key, (status, reason) when no company applies)."""
    if realm is None:
        company = default_company()
        if company is None:
            return None, "", (EventStatus.FAILED, no_default_reason())
        return company, company.realm_id, None
    company = None
    if fits(realm, Company.__table__.c.realm_id):
        company = db.session.execute(
            select(Company).where(Company.realm_id == realm)
        ).scalar_one_or_none()
    if company is None:
        return (
            None,
            realm,
            (EventStatus.IGNORED, f"unknown company: realm {realm} is not connected"),
        )
    return company, realm, None


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
