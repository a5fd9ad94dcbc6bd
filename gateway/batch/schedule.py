"""The batch schedule, run by a thread of every worker (of the web process in embedded mode):
resume runs nobody is working, start scheduled runs that are due, and reconcile every
RECONCILE_INTERVAL_SECONDS.

Several workers all run this loop; the reconciler's lock (reconcile.run_exclusively) makes
one of them do each round, and a run's own lock keeps it to one process.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from . import reconcile, runs, scheduled_runs

log = logging.getLogger(__name__)


def tick(app: Flask, last_reconcile: float) -> float:
    """One round; returns when the reconciler last ran (monotonic seconds)."""
    with app.app_context():
        runs.resume_stalled()
        scheduled_runs.start_due()
        if time.monotonic() - last_reconcile >= app.config["RECONCILE_INTERVAL_SECONDS"]:
            reconcile.run_exclusively()
            return time.monotonic()
    return last_reconcile


def start_thread(app: Flask, stop: threading.Event | None = None) -> threading.Thread:
    stop = stop or threading.Event()

    def loop() -> None:
        # The first reconcile waits one interval: at start-up webhooks queued during the
        # downtime are still arriving, and CDC would only find them twice.
        last_reconcile = time.monotonic()
        while True:
            try:
                last_reconcile = tick(app, last_reconcile)
            except Exception:  # keep the schedule alive; an outage is temporary
                log.exception("batch schedule round failed")
            if stop.wait(min(app.config["SWEEPER_INTERVAL_SECONDS"], 30.0)):
                return

    thread = threading.Thread(target=loop, name="gateway-batch-schedule", daemon=True)
    thread.start()
    return thread
