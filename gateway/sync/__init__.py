"""The sync engine: drain one sync key's pending events, with the outcome on every event.

A sync key (gateway.sync_key) names a direction, a company and an object type; one job drains all
of its pending events at once, which is how a burst of changes becomes a few API calls.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from flask import current_app
from rq.exceptions import ShutDownImminentException

from .. import inbox, queue
from ..connectors import ConnectorError, ReconnectNeeded
from ..connectors.quickbooks import Throttled
from ..extensions import db
from ..models import Event, EventStatus, utcnow
from ..queue import Lease, LockLost, LockTimeout
from ..sync_key import FROM_QUICKBOOKS, SyncKey

log = logging.getLogger(__name__)
# Events failed for a lost connection are retried by `flask connect` once it is back.
RECONNECT_PREFIX = "reconnect needed: "
# The lease of the run in progress in this thread (a job runs in one thread).
_current_lease: ContextVar[Lease | None] = ContextVar("sync_lease", default=None)


def check_lock_held() -> None:
    """Raise LockLost unless the running sync still holds its key's lock; call it right
    before every write, so a run whose lock lapsed (the sweeper may have handed its events to
    another run) stops before writing anything more."""
    lease = _current_lease.get()
    if lease is not None:
        lease.check()


@contextmanager
def fenced_by(lease: Lease) -> Iterator[None]:
    """Writes made inside check `lease` first (check_lock_held), so a run that lost its lock
    stops before writing anything more."""
    reset = _current_lease.set(lease)
    try:
        yield
    finally:
        _current_lease.reset(reset)


def drain(sync_key: str) -> int:
    """Process every due pending event of `sync_key`; returns how many were claimed."""
    work = queue.backend()
    # Cleared before claiming: an event stored after the claim schedules the next job itself.
    work.clear_scheduled(sync_key)
    # One id names this run's lock and marks the events it claims.
    run_id = uuid.uuid4().hex
    try:
        lock_seconds = current_app.config["SYNC_LOCK_SECONDS"]
        lock_name = SyncKey.parse(sync_key).lock_name
        with (
            work.lock(lock_name, timeout=lock_seconds, wait=2, token=run_id) as lease,
            fenced_by(lease),
        ):
            claimed = _drain_locked(sync_key, run_id)
    except LockTimeout:
        # Another job holds the key; it looks for more pending events before it lets go.
        log.info("%s is being drained by another job", sync_key)
        return 0
    if inbox.has_due_pending(sync_key):
        queue.schedule_sync(sync_key)
    return claimed


def _let_the_burst_land(sync_key: str) -> None:
    """Wait out the rest of the coalescing window when the first pending event is brand new.

    A burst's webhooks arrive over a few hundred milliseconds; claiming a moment later turns
    many small runs (one QuickBooks read each) into one.
    """
    window = current_app.config["COALESCE_WINDOW_MS"] / 1000
    if window <= 0:
        return
    oldest = inbox.oldest_due_pending(sync_key)
    if oldest is None:
        return
    age = (utcnow() - oldest).total_seconds()
    if age < window:
        time.sleep(window - age)


def _drain_locked(sync_key: str, run_id: str) -> int:
    from .to_quickbooks import SalesforceToQuickBooks
    from .to_salesforce import QuickBooksToSalesforce

    key = SyncKey.parse(sync_key)
    direction = QuickBooksToSalesforce if key.source == FROM_QUICKBOOKS else SalesforceToQuickBooks
    _let_the_burst_land(sync_key)
    events = inbox.claim(sync_key, current_app.config["CLAIM_BATCH_SIZE"], run_id)
    if not events:
        return 0
    log.info("%s: %d events", sync_key, len(events))
    try:
        direction(key.company_id, key.object_name, events).run()
    except Throttled as exc:
        db.session.rollback()
        until = utcnow() + timedelta(seconds=exc.seconds)
        inbox.release(
            _still_ours(events, run_id), until, f"waiting for QuickBooks' rate limit ({exc})"
        )
        db.session.commit()
        queue.schedule_sync_later(sync_key, exc.seconds)
    except LockLost:
        # Whatever is still ours goes back as pending; what the sweeper already handed to
        # another run is no longer ours to touch.
        db.session.rollback()
        inbox.hand_back_claim(sync_key, run_id, "the run lost its lock mid-way; handed back")
        db.session.commit()
        raise
    except ShutDownImminentException:
        # Heroku is stopping the dyno: hand the events back untouched for the next worker.
        db.session.rollback()
        inbox.release(_still_ours(events, run_id), None, "worker shut down mid-run; handed back")
        db.session.commit()
        raise
    except ConnectorError as exc:
        db.session.rollback()
        reconnect = isinstance(exc, ReconnectNeeded)
        reason = f"{RECONNECT_PREFIX}{exc}" if reconnect else str(exc)
        for event in _still_ours(events, run_id):
            inbox.fail(event, reason, retryable=exc.retryable and not reconnect, error=exc)
        db.session.commit()
    except Exception as exc:
        # Never a silent success: record it on the events, then let RQ record the job failed.
        db.session.rollback()
        for event in _still_ours(events, run_id):
            inbox.fail(event, f"internal error: {exc!r}", retryable=True)
        db.session.commit()
        raise
    return len(events)


def _still_ours(events: list[Event], run_id: str) -> list[Event]:
    """The claimed events this run may still record an outcome on (read afresh after a
    rollback): not those a sweeper handed to another run after this one's lock lapsed."""
    return [e for e in events if e.status == EventStatus.PROCESSING and e.claim_token == run_id]
