"""The events inbox: storing what we were told, claiming it for work, recording the outcome."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import DataError, IntegrityError

from . import dialects
from .extensions import db
from .inbound.storable import clean_text, column_length, is_clean, misfit, storable_time
from .models import Event, EventAttempt, EventStatus, utcnow

log = logging.getLogger(__name__)
_COLUMNS = Event.__table__.c
# Fields a sender controls that name the change; one that cannot be stored as sent is dropped
# and the event kept as malformed, since a truncated or altered id would name another record.
_IDENTIFYING_FIELDS = (
    "account_id", "entity", "record_id", "operation", "deleted_id", "target_type", "sync_key"
)  # fmt: skip


@dataclass
class IncomingEvent:
    """One entity change as parsed from a webhook or callout, before it is stored."""

    source: str
    dedupe_key: str
    status: str = EventStatus.PENDING
    account_id: str | None = None
    company_id: int | None = None
    entity: str | None = None
    record_id: str | None = None
    operation: str | None = None
    deleted_id: str | None = None
    occurred_at: datetime | None = None
    target_type: str | None = None  # a callout's QuickBooks type
    sync_key: str | None = None
    reason: str | None = None
    retryable: bool | None = None
    payload: str | None = None

    def fit(self) -> None:
        """Make every field fit its column and read back; called by store() before insert.

        A field that does not fit is dropped and named in the reason (the raw payload keeps
        it); an event that could have been synced becomes malformed, an ignored one stays so.
        """
        problems = []
        for name in _IDENTIFYING_FIELDS:
            value = getattr(self, name)
            if value is not None and (problem := misfit(value, _COLUMNS[name])):
                problems.append(problem)
                setattr(self, name, None)
        self.occurred_at = storable_time(self.occurred_at)
        if problems:
            if self.status == EventStatus.PENDING:
                self.status, self.sync_key = EventStatus.MALFORMED, None
            self.reason = "; ".join(([self.reason] if self.reason else []) + problems)
        key_length = column_length(_COLUMNS["dedupe_key"])
        if len(self.dedupe_key) > key_length or not is_clean(self.dedupe_key):
            raw_key = self.dedupe_key.encode("utf-8", "surrogatepass")
            self.dedupe_key = "sha256:" + hashlib.sha256(raw_key).hexdigest()
        self.reason = None if self.reason is None else clean_text(self.reason)
        self.payload = None if self.payload is None else clean_text(self.payload)

    def row(self) -> dict[str, Any]:
        now = utcnow()
        return {
            "source": self.source,
            "dedupe_key": self.dedupe_key,
            "status": self.status,
            "account_id": self.account_id,
            "company_id": self.company_id,
            "entity": self.entity,
            "record_id": self.record_id,
            "operation": self.operation,
            "deleted_id": self.deleted_id,
            "occurred_at": self.occurred_at,
            "target_type": self.target_type,
            "sync_key": self.sync_key,
            "reason": self.reason,
            "retryable": self.retryable,
            "payload": self.payload,
            "attempts": 0,
            "received_at": now,
            "updated_at": now,
        }


def _insert_returning():
    table = Event.__table__
    return insert(table).returning(table.c.sync_key, table.c.status)


# The plain INSERT is served from SQLAlchemy's compiled-statement cache; the dialects' ON
# CONFLICT inserts are not cacheable, so they are kept for the rare batch with a redelivery.
_INSERT = _insert_returning()


def _insert_skipping_duplicates():
    table = Event.__table__
    return (
        dialects.insert(table)
        .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
        .returning(table.c.sync_key, table.c.status)
    )


def store(
    events: Sequence[IncomingEvent], before_commit: Callable[[], None] | None = None
) -> tuple[int, set[str]]:
    """Insert new events (a redelivered one is dropped by its dedupe key) and commit.

    `before_commit` runs inside the transaction that stores them (the reconciler moves its
    watermark there, so it never moves past events that were not stored). Returns how many
    rows were new and the sync keys that now have pending work.
    """
    if not events:
        if before_commit is not None:
            before_commit()
            db.session.commit()
        return 0, set()
    rows = {}
    for event in events:  # a POST may repeat an event; keep the first
        event.fit()
        row = event.row()
        rows.setdefault((row["source"], row["dedupe_key"]), row)
    values = list(rows.values())
    try:
        inserted = db.session.connection().execute(_INSERT, values).all()
        if before_commit is not None:
            before_commit()
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        inserted = db.session.connection().execute(_insert_skipping_duplicates(), values).all()
        if before_commit is not None:
            before_commit()
        db.session.commit()
    keys = {key for key, status in inserted if key and status == EventStatus.PENDING}
    return len(inserted), keys


def claim(sync_key: str, limit: int, claim_token: str) -> list[Event]:
    """Atomically move due pending events of one key to processing, marked with the claiming
    run's `claim_token` (its lock's token), and return them."""
    now = utcnow()
    due = (
        select(Event.id)
        .where(*_due_pending(sync_key))
        .order_by(Event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = (
        db.session.execute(
            update(Event)
            .where(Event.id.in_(due.scalar_subquery()))
            .values(
                status=EventStatus.PROCESSING,
                claimed_at=now,
                claim_token=claim_token,
                attempts=Event.attempts + 1,
                updated_at=now,
            )
            .returning(Event.id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    db.session.commit()
    if not claimed:
        return []
    return _load_claimed(claimed)


def _load_claimed(ids: list[int]) -> list[Event]:
    """The claimed rows; one that cannot be read back is failed on its own, so it never keeps
    the others in `processing` (store() only writes rows that read back; older rows may not)."""
    try:
        return list(
            db.session.execute(select(Event).where(Event.id.in_(ids)).order_by(Event.id)).scalars()
        )
    except DataError:
        db.session.rollback()
    readable = []
    for event_id in ids:
        try:
            readable.append(
                db.session.execute(select(Event).where(Event.id == event_id)).scalar_one()
            )
        except DataError as exc:
            db.session.rollback()
            log.error("event %s cannot be read back and is failed: %s", event_id, exc.orig)
            db.session.execute(
                update(Event)
                .where(Event.id == event_id)
                .values(
                    status=EventStatus.FAILED,
                    retryable=False,
                    reason=clean_text(f"the stored event cannot be read back: {exc.orig}"),
                    updated_at=utcnow(),
                )
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
    return readable


def _due_pending(sync_key: str):
    now = utcnow()
    return (
        Event.sync_key == sync_key,
        Event.status == EventStatus.PENDING,
        (Event.not_before.is_(None)) | (Event.not_before <= now),
    )


def has_due_pending(sync_key: str) -> bool:
    return (
        db.session.execute(select(Event.id).where(*_due_pending(sync_key)).limit(1)).first()
        is not None
    )


def oldest_due_pending(sync_key: str) -> datetime | None:
    oldest = db.session.execute(
        select(func.min(Event.received_at)).where(*_due_pending(sync_key))
    ).scalar_one()
    return oldest


def backoff_seconds(attempts: int) -> float:
    base = current_app.config["RETRY_BASE_SECONDS"]
    return min(base * 2 ** max(attempts - 1, 0), 3600.0)


@dataclass
class AttemptDetail:
    """What a sync saw and did for one event, kept with the outcome (see record_attempt)."""

    source: Any = None
    written: Any = None
    before: Any = None
    error: Any = None
    target_object: str | None = None
    target_id: str | None = None


def record_attempt(
    event: Event,
    *,
    source: Any = None,
    written: Any = None,
    before: Any = None,
    error: Any = None,
    target_object: str | None = None,
    target_id: str | None = None,
) -> None:
    """Hand the log what this try read and wrote; saved by the finish() or fail() that follows.

    `source` is the record as read, `written` the payload sent, `before` the target's fields as
    they were (None: the log compares with the previous write of the same record), `error` the
    API's answer (a connector exception, or a Salesforce result dict with `errors`).
    """
    # Kept on the instance, not in a column, until the finish() or fail() of this try saves it.
    event.__dict__["_attempt_detail"] = AttemptDetail(
        source, written, before, error, target_object, target_id
    )


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return clean_text(json.dumps(value, sort_keys=True, default=str))


def error_fields(error: Any) -> tuple[str | None, str | None, str | None, list[str]]:
    """(code, message, intuit_tid, fields) of an API error, whatever shape it came in."""
    if error is None:
        return None, None, None, []
    if isinstance(error, dict):
        errors = error.get("errors") or []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        message = "; ".join(str(e.get("message", "")) for e in errors if isinstance(e, dict))
        return (
            first.get("statusCode") or first.get("errorCode"),
            message or None,
            None,
            list(first.get("fields") or []),
        )
    errors = getattr(error, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    code = (
        getattr(error, "code", None)
        or first.get("errorCode")
        or first.get("statusCode")
        or type(error).__name__
    )
    fields = list(first.get("fields") or [])
    return str(code), str(error), getattr(error, "intuit_tid", None), fields


# What varies from record to record in a reason: ids, numbers, quoted values.
_VARYING = re.compile(r"'[^']*'|\"[^\"]*\"|\b(?=\w*\d)\w{6,}\b|\d+")


def failure_cause(reason: str, detail: AttemptDetail | None) -> str:
    code, _, _, fields = error_fields(detail.error if detail else None)
    if code:
        target = detail.target_object if detail else None
        where = ", ".join(f"{target}.{f}" if target else f for f in fields)
        cause = f"{code} on {where}" if where else (f"{code} on {target}" if target else code)
    else:
        cause = _VARYING.sub("…", reason)
    return cause[: column_length(_COLUMNS["failure_cause"])]


def _save_attempt(event: Event, reason: str | None) -> AttemptDetail | None:
    detail = event.__dict__.pop("_attempt_detail", None)
    code, message, tid, _ = error_fields(detail.error if detail else None)
    db.session.add(
        EventAttempt(
            event_id=event.id,
            attempted_at=utcnow(),
            outcome=event.status,
            reason=None if reason is None else clean_text(reason),
            error_code=None if code is None else clean_text(code)[:128],
            error_message=None if message is None else clean_text(message),
            intuit_tid=tid,
            target_object=detail.target_object if detail else None,
            target_id=detail.target_id if detail else None,
            source=_json_text(detail.source) if detail else None,
            written=_json_text(detail.written) if detail else None,
            before=_json_text(detail.before) if detail else None,
        )
    )
    return detail


def finish(event: Event, status: str, reason: str | None = None) -> None:
    event.status = status
    event.reason = reason
    event.failure_cause = None
    event.retryable = None
    event.not_before = None
    _save_attempt(event, reason)


def fail(event: Event, reason: str, retryable: bool, error: Any = None) -> None:
    """Record a failure; a retryable one is tried again after a backoff, up to a limit."""
    if error is not None:
        recorded = event.__dict__.get("_attempt_detail")
        if recorded is None:
            record_attempt(event, error=error)
        else:  # keep what the sync read and wrote before the call that failed
            recorded.error = error
    event.status = EventStatus.FAILED
    event.reason = reason
    max_attempts = current_app.config["EVENT_MAX_ATTEMPTS"]
    if retryable and event.attempts >= max_attempts:
        event.reason = f"{reason} (gave up after {event.attempts} attempts)"
        retryable = False
    event.retryable = retryable
    event.not_before = (
        utcnow() + timedelta(seconds=backoff_seconds(event.attempts)) if retryable else None
    )
    detail = _save_attempt(event, event.reason)
    event.failure_cause = failure_cause(reason, detail)


def release(events: Iterable[Event], not_before: datetime | None, reason: str | None) -> None:
    """Hand claimed events back as pending (throttled, or the run stopped early)."""
    for event in events:
        if event.status == EventStatus.PROCESSING:
            event.status = EventStatus.PENDING
            event.not_before = not_before
            event.reason = reason
            # A pause imposed on us is not an attempt of this event.
            event.attempts = max(event.attempts - 1, 0)


def retry(event_ids: Iterable[int]) -> set[str]:
    """A person (or the CLI) asks to try failed events again; returns their sync keys.

    An event without a sync key (a callout that waits for a default company) has nothing to
    drain it yet and stays failed; its reason says what to do.
    """
    events = db.session.execute(
        select(Event).where(
            Event.id.in_(list(event_ids)),
            Event.status == EventStatus.FAILED,
            Event.sync_key.is_not(None),
        )
    ).scalars()
    keys = set()
    for event in events:
        event.status = EventStatus.PENDING
        event.not_before = None
        event.attempts = 0
        keys.add(event.sync_key)
    db.session.commit()
    return {key for key in keys if key}


def resolve(event_ids: Iterable[int], note: str) -> int:
    """A person marks failed events as dealt with: ignored, the reason kept beside the note."""
    events = db.session.execute(
        select(Event).where(Event.id.in_(list(event_ids)), Event.status == EventStatus.FAILED)
    ).scalars()
    resolved = 0
    for event in events:
        event.status = EventStatus.IGNORED
        event.reason = f"{note} (was: {event.reason})"
        event.retryable = None
        event.not_before = None
        resolved += 1
    db.session.commit()
    return resolved


def resync(events: Iterable[Event], why: str) -> set[str]:
    """A new pending event per record, so the sync reads the source afresh (never the stale
    payload); returns the sync keys to schedule."""
    stamp = utcnow().isoformat()
    incoming = [
        IncomingEvent(
            source=event.source,
            dedupe_key=f"resync:{event.id}:{stamp}",
            account_id=event.account_id,
            company_id=event.company_id,
            entity=event.entity,
            record_id=event.record_id,
            operation="update",
            sync_key=event.sync_key,
            reason=why,
        )
        for event in events
        if event.record_id and event.sync_key
    ]
    return store(incoming)[1]


def hand_back_claim(sync_key: str, claim_token: str | None, reason: str | None = None) -> int:
    """Hand the still-processing events of one run back as pending; returns how many.

    Only that run's events: a newer run under the same key keeps its own. The claim token is
    cleared, so the old run can no longer tell its events from anyone else's.
    """
    token_matches = (
        Event.claim_token.is_(None) if claim_token is None else Event.claim_token == claim_token
    )
    values: dict[str, Any] = {
        "status": EventStatus.PENDING,
        "claim_token": None,
        "updated_at": utcnow(),
    }
    if reason is not None:
        values["reason"] = reason
    return db.session.execute(
        update(Event)
        .where(Event.sync_key == sync_key, Event.status == EventStatus.PROCESSING, token_matches)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
