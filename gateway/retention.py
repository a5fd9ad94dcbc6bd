"""Retention: event payloads are emptied after EVENT_PAYLOAD_RETENTION_DAYS and event rows
deleted after EVENT_RETENTION_DAYS. Failed, pending and processing events are kept whatever
their age (a failure waits for a person; accepted work is never lost).

Runs inside the sweeper thread (every worker; the web process in embedded mode) at most every
RETENTION_INTERVAL_SECONDS, in batches of RETENTION_BATCH_SIZE rows, each its own short
transaction that skips rows a sync holds, so the inbox is never locked for long.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from . import queue
from .extensions import db
from .models import Event, EventAttempt, EventStatus, utcnow
from .queue import LockTimeout

log = logging.getLogger(__name__)
# Never pruned: the person or the sync still needs them.
KEPT_STATUSES = (EventStatus.FAILED, EventStatus.PENDING, EventStatus.PROCESSING)
LAST_RUN_KEY = "retention:last-run"


def _batch(query) -> list[int]:
    return list(
        db.session.execute(
            query.limit(current_app.config["RETENTION_BATCH_SIZE"]).with_for_update(
                skip_locked=True
            )
        ).scalars()
    )


def prune_payloads() -> int:
    cutoff = utcnow() - timedelta(days=current_app.config["EVENT_PAYLOAD_RETENTION_DAYS"])
    old = select(Event.id).where(
        Event.payload.is_not(None),
        Event.received_at < cutoff,
        Event.status.not_in(KEPT_STATUSES),
    )
    pruned = 0
    while ids := _batch(old):
        db.session.execute(
            update(EventAttempt)
            .where(EventAttempt.event_id.in_(ids))
            .values(source=None, written=None, before=None)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Event)
            .where(Event.id.in_(ids))
            .values(payload=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        pruned += len(ids)
    return pruned


def prune_events() -> int:
    cutoff = utcnow() - timedelta(days=current_app.config["EVENT_RETENTION_DAYS"])
    old = select(Event.id).where(Event.received_at < cutoff, Event.status.not_in(KEPT_STATUSES))
    deleted = 0
    while ids := _batch(old):
        # Explicitly, since SQLite does not cascade without its foreign-keys pragma.
        db.session.execute(delete(EventAttempt).where(EventAttempt.event_id.in_(ids)))
        db.session.execute(delete(Event).where(Event.id.in_(ids)))
        db.session.commit()
        deleted += len(ids)
    return deleted


def prune() -> dict[str, int]:
    # Rows first: their payloads need no emptying on the way out.
    events = prune_events()
    result = {"payloads": prune_payloads(), "events": events}
    if any(result.values()):
        log.info("retention: %s", result)
    return result


def run_if_due() -> dict[str, int] | None:
    """Prune unless another process did within the interval (or is doing it now)."""
    work = queue.backend()
    interval = current_app.config["RETENTION_INTERVAL_SECONDS"]
    if work.cache_get(LAST_RUN_KEY):
        return None
    try:
        with work.lock("retention", timeout=interval, wait=0):
            if work.cache_get(LAST_RUN_KEY):
                return None
            result = prune()
            work.cache_set(LAST_RUN_KEY, True, interval)
            return result
    except LockTimeout:
        return None
