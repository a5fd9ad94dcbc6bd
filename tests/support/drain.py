"""Running the real RQ worker in the test process until everything in flight is done."""

from __future__ import annotations

import time
from collections.abc import Callable

from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

from gateway import queue
from gateway.extensions import db
from gateway.models import Event, EventStatus
from gateway.sweeper import sweep


def open_events() -> int:
    db.session.rollback()  # see other sessions' commits
    waiting = Event.status.in_(EventStatus.OPEN) | (
        (Event.status == EventStatus.FAILED) & Event.retryable.is_(True)
    )
    return db.session.execute(select(func.count()).select_from(Event).where(waiting)).scalar_one()


def run_worker() -> None:
    """Run every queued job, and every scheduled one that is due (as worker.py's scheduler)."""
    backend = queue.backend()
    SimpleWorker([backend.queue], connection=backend.redis, serializer=JSONSerializer).work(
        burst=True, logging_level="WARNING", with_scheduler=True
    )


def run_batch_worker(max_jobs: int | None = None) -> None:
    """Run the jobs of every queue, batch pages included; `max_jobs=1` works one page of a run."""
    backend = queue.backend()
    SimpleWorker(backend.queues, connection=backend.redis, serializer=JSONSerializer).work(
        burst=True, max_jobs=max_jobs, logging_level="WARNING"
    )


def settle(
    app,
    wait_webhooks: Callable[[], None] | None = None,
    timeout: float = 20.0,
    until: Callable[[], bool] | None = None,
) -> None:
    """Deliver webhooks, run the worker and the sweeper, until nothing is left to do (no event
    pending, processing, or failed but due for another try)."""
    deadline = time.monotonic() + timeout
    quiet_rounds = 0
    while time.monotonic() < deadline:
        if wait_webhooks:
            wait_webhooks()
        run_worker()
        if until is not None:
            if until():
                return
        elif open_events() == 0 and len(queue.backend().queue) == 0:
            quiet_rounds += 1
            if quiet_rounds >= 2:  # a webhook triggered by our own writes may still be on its way
                return
        else:
            quiet_rounds = 0
        sweep()
        time.sleep(0.1)
    raise AssertionError(f"still {open_events()} open events after {timeout} s")
