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


def run_bulk_action(action_id: str) -> dict:
    from . import bulk_actions

    with _context():
        return bulk_actions.run(action_id)
