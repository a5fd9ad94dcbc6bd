"""The sweeper: no event waits forever because a job vanished.

Runs every SWEEPER_INTERVAL_SECONDS inside each worker (inside the web process in embedded
mode) and once at start-up. Its three jobs are each safe to repeat and to run in several
processes at once: every change is one conditional UPDATE, and a key gets a job only when no
live job is scheduled for it.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask
from sqlalchemy import func, select, update

from . import inbox, queue, retention
from .extensions import db
from .models import Event, EventStatus, utcnow
from .sync_key import SyncKey

log = logging.getLogger(__name__)


def sweep() -> dict:
    result = {
        "retried": retry_due_failures(),
        "orphaned": hand_back_orphans(),
        "keys": schedule_due_keys(),
    }
    if any(result.values()):
        log.info("sweep: %s", result)
    return result


def retry_due_failures() -> int:
    """Failed but retryable events whose backoff is over are pending again."""
    now = utcnow()
    retried = db.session.execute(
        update(Event)
        .where(
            Event.status == EventStatus.FAILED,
            Event.retryable.is_(True),
            Event.not_before <= now,
        )
        .values(status=EventStatus.PENDING, not_before=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return retried


def hand_back_orphans() -> int:
    """Events still processing under a run whose lock is gone (it crashed, or Redis lost its
    lock) are pending again; a live run's events, under the same key or not, stay its own."""
    work = queue.backend()
    runs = db.session.execute(
        select(Event.sync_key, Event.claim_token)
        .where(Event.status == EventStatus.PROCESSING, Event.sync_key.is_not(None))
        .distinct()
    ).all()
    db.session.rollback()  # no transaction held open while asking the queue
    orphaned = 0
    for sync_key, claim_token in runs:
        holder = work.lock_holder(SyncKey.parse(sync_key).lock_name)
        # Events claimed before runs had tokens belong to whoever holds the lock, if anyone.
        lapsed = holder is None if claim_token is None else holder != claim_token
        if lapsed:
            orphaned += inbox.hand_back_claim(sync_key, claim_token)
            db.session.commit()
    return orphaned


def schedule_due_keys() -> int:
    """Every key with due pending events gets a job, unless a live one is already scheduled
    (the webhook could not enqueue, or Redis lost the job). Returns how many were enqueued."""
    now = utcnow()
    keys = (
        db.session.execute(
            select(Event.sync_key)
            .where(
                Event.status == EventStatus.PENDING,
                Event.sync_key.is_not(None),
                (Event.not_before.is_(None)) | (Event.not_before <= now),
            )
            .group_by(Event.sync_key)
            .order_by(func.min(Event.id))  # the longest waiting first
        )
        .scalars()
        .all()
    )
    db.session.rollback()
    return queue.schedule_syncs(keys, replace_lost=True)


def start_thread(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    """Sweep now and then every SWEEPER_INTERVAL_SECONDS until `stop` is set."""
    stop = stop or threading.Event()

    def loop() -> None:
        while True:
            try:
                with app.app_context():
                    sweep()
                    retention.run_if_due()
            except Exception:  # keep sweeping; a database or Redis outage is temporary
                log.exception("sweep failed")
            if stop.wait(app.config["SWEEPER_INTERVAL_SECONDS"]):
                return

    thread = threading.Thread(target=loop, name="gateway-sweeper", daemon=True)
    thread.start()
    return thread
