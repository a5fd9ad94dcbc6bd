"""RQ job functions: small, take ids and strings only, never swallow errors."""

from __future__ import annotations

import os

from flask import Flask, current_app, has_app_context

_app: Flask | None = None
_app_pid: int | None = None  # the process that built _app and its connection pool
_disposed_in: int | None = None


def use_app(app: Flask) -> None:
    """Run jobs in this app (the worker's), so a forked work-horse does not build another."""
    global _app, _app_pid
    _app, _app_pid = app, os.getpid()


def _context():
    """The app context a job runs in: the caller's, or the worker's app.

    A forked work-horse must not use the connections its parent opened, so it drops the
    inherited pool (without closing the parent's sockets) once.
    """
    global _disposed_in
    if has_app_context():
        return current_app.app_context()
    if _app is None:
        from . import create_app

        use_app(create_app())
    pid = os.getpid()
    if pid != _app_pid and _disposed_in != pid:
        from .extensions import db

        with _app.app_context():
            db.engine.dispose(close=False)
        _disposed_in = pid
    return _app.app_context()


def sync_events(sync_key: str) -> int:
    from . import sync

    with _context():
        return sync.drain(sync_key)


def batch_run(run_id: int) -> None:
    """One page of a batch run; the next page is a new job, so real time goes in between."""
    from .batch import runs
    from .models import RunStatus

    with _context():
        run = runs.execute(run_id, one_page=True)
        if run is not None and run.status not in RunStatus.FINAL:
            runs.enqueue(run_id)


def apply_review(item_id: int) -> None:
    """Write a record whose counterpart a person picked on the review list."""
    from .batch import backfill

    with _context():
        backfill.apply_review(item_id)


def reconcile(realm_id: str | None = None) -> dict:
    from .batch import reconcile

    with _context():
        return reconcile.reconcile_all(realm_id)


def run_bulk_action(action_id: str) -> dict:
    from . import bulk_actions

    with _context():
        return bulk_actions.run(action_id)
