"""The sweeper: no event waits forever because a job vanished.

Runs every SWEEPER_INTERVAL_SECONDS inside each worker (inside the web process in embedded
mode) and once at start-up. Everything it does is safe to repeat and to run in several
processes at once: claiming is atomic and drains are serialised per sync key.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import func, select, update

from . import queue, retention
from .extensions import db
from .models import Event, EventStatus, utcnow
from .sync_key import SyncKey

log = logging.getLogger(__name__)


def sweep() -> dict:
    now = utcnow()
    config = current_app.config
    stale = now - timedelta(seconds=config["STALE_PENDING_SECONDS"])
    work = queue.backend()

    # 1. Failed but retryable, and due: pending again.
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

    # 2. Processing under a lock nobody holds any more (the job crashed): pending again.
    orphaned = 0
    processing_keys = db.session.execute(
        select(Event.sync_key)
        .where(
            Event.status == EventStatus.PROCESSING, Event.claimed_at < now - timedelta(seconds=5)
        )
        .distinct()
    ).scalars()
    for key in list(processing_keys):
        if key and not work.is_locked(SyncKey.parse(key).lock_name):
            orphaned += db.session.execute(
                update(Event)
                .where(Event.sync_key == key, Event.status == EventStatus.PROCESSING)
                .values(status=EventStatus.PENDING, updated_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
    db.session.commit()

    # 3. Every key with due pending work gets a job; one whose oldest event is stale gets one
    #    even if a flag says a job is queued (Redis may have lost that job).
    due = db.session.execute(
        select(Event.sync_key, func.min(Event.updated_at))
        .where(
            Event.status == EventStatus.PENDING,
            (Event.not_before.is_(None)) | (Event.not_before <= now),
        )
        .group_by(Event.sync_key)
    ).all()
    enqueued = 0
    for key, oldest in due:
        if key is None:
            continue
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=now.tzinfo)
        if oldest < stale:
            work.enqueue(queue.SYNC_JOB, key)
            enqueued += 1
        elif queue.schedule_sync(key):
            enqueued += 1
    result = {"retried": retried, "orphaned": orphaned, "keys": enqueued}
    if any(result.values()):
        log.info("sweep: %s", result)
    return result


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
