"""RQ job functions: small, take ids and strings only, never swallow errors."""

from __future__ import annotations

import os

from flask import Flask, current_app, has_app_context

_app: Flask | None = None
_pid: int | None = None


def _context():
    """The app context a job runs in: the caller's, or one app built once per process.

    A forked work-horse must not reuse the parent's database connections, so the pool is
    replaced once per process.
    """
    global _app, _pid
    if has_app_context():
        app = current_app._get_current_object()
    else:
        if _app is None:
            from . import create_app

            _app = create_app()
        app = _app
    if _pid != os.getpid():
        from .extensions import db

        with app.app_context():
            db.engine.dispose(close=False)
        _pid = os.getpid()
    return app.app_context()


def use_app(app: Flask) -> None:
    """Run jobs in this app (the worker's), so a forked work-horse does not build another."""
    global _app
    _app = app


def sync_events(sync_key: str) -> int:
    from . import sync

    with _context():
        return sync.drain(sync_key)


def sweep() -> dict:
    from . import sweeper

    with _context():
        return sweeper.sweep()
