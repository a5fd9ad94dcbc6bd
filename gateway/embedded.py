"""Embedded mode (no REDIS_URL): the web process runs the jobs and the sweeper itself.

Embedded mode keeps its locks, "job scheduled" flags and rate limits in one process's memory,
so one process per database runs it: the first to start takes a lock keyed by the database
(an OS file lock beside a SQLite file, a session advisory lock on PostgreSQL) and a second one
refuses to start and says what to do.

The runtime starts when a process starts serving, never on import or in a CLI command:
- `flask run`: as the app is created (in the reloader's serving child, not its watcher);
- gunicorn: from its post_worker_init hook (gunicorn.conf.py), before the first request; its
  master checks the lock is free first (on_starting), so a second gunicorn refuses at once;
- any other WSGI server: on the first request. A refused process then goes on storing
  webhooks without running jobs; the owner's sweeper picks their events up.
Starting sweeps at once, which hands back and re-enqueues what a crash left behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.helpers import get_debug_flag
from sqlalchemy import text
from werkzeug.serving import is_running_from_reloader

from . import sweeper
from .batch import schedule
from .extensions import db

log = logging.getLogger(__name__)
EXTENSION = "gateway_embedded_runtime"
_starting = threading.Lock()


class AnotherEmbeddedProcess(RuntimeError):
    """Another process already runs embedded mode on this database."""


@dataclass
class _Runtime:
    process_lock: Any  # released (closed) when the runtime stops or the process ends
    stop_sweeping: threading.Event
    sweeper_thread: threading.Thread


def init_app(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        return  # worker processes run the jobs and the sweeper
    if _serving_under_flask_run():
        try:
            start(app)
        except AnotherEmbeddedProcess as exc:
            # Refuse to serve with the reason alone: Flask's CLI would print a traceback.
            click.echo(f"Error: {exc}", err=True)
            raise SystemExit(1) from None
    app.before_request(lambda: _start_on_first_request(app))


def start(app: Flask, wait_for_lock: float = 0.0) -> None:
    """Run the job thread and the sweeper in this process; raise AnotherEmbeddedProcess if
    another process still does for this database after `wait_for_lock` seconds (a server
    replacing its worker starts the new one before the old one has stopped). Once per app:
    later calls do nothing."""
    with _starting:
        if EXTENSION in app.extensions:
            return
        process_lock = _take_process_lock(app, wait_for_lock)
        app.extensions["gateway_backend"].start()
        stop_sweeping = threading.Event()
        thread = sweeper.start_thread(app, stop_sweeping)
        schedule.start_thread(app, stop_sweeping)  # batch runs and the reconciler
        app.extensions[EXTENSION] = _Runtime(process_lock, stop_sweeping, thread)
        log.info("embedded mode: jobs and the sweeper run in this process (pid %d)", os.getpid())


def check_free(app: Flask) -> None:
    """Raise AnotherEmbeddedProcess if another process runs embedded mode on this database.

    For a server's master process, before it forks the worker that serves: it can refuse at
    once, while the lock itself is taken by the worker, the process that runs the jobs. Leaves
    no connection open to cross the fork."""
    _try_process_lock(app).close()
    with app.app_context():
        db.engine.dispose()


def stop(app: Flask) -> None:
    """Stop the sweeper and the job thread and let another process take over."""
    runtime = app.extensions.pop(EXTENSION, None)
    if runtime is None or runtime is False:
        return
    runtime.stop_sweeping.set()
    runtime.sweeper_thread.join(30)
    app.extensions["gateway_backend"].stop()
    runtime.process_lock.close()


def _start_on_first_request(app: Flask) -> None:
    if EXTENSION in app.extensions:
        return
    try:
        start(app)
    except AnotherEmbeddedProcess as exc:
        # Too late to refuse to start: keep storing webhooks, leave the jobs to the owner.
        log.error("%s This process only stores webhooks.", exc)
        app.extensions[EXTENSION] = False


def _serving_under_flask_run() -> bool:
    context = click.get_current_context(silent=True)
    if context is None or context.info_name != "run":
        return False
    reload = context.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    # With the reloader, the first process only watches files and restarts a serving child.
    return not reload or is_running_from_reloader()


def _refusal(where: str) -> AnotherEmbeddedProcess:
    return AnotherEmbeddedProcess(
        f"Another process already runs the gateway in embedded mode on {where}. Embedded mode "
        "(no REDIS_URL) keeps its locks in one process's memory, so it runs in one process "
        "only: stop the other one, serve with one worker (WEB_CONCURRENCY=1), or set REDIS_URL "
        "to run several web processes plus `python worker.py`."
    )


def _take_process_lock(app: Flask, wait: float) -> Any:
    deadline = time.monotonic() + wait
    while True:
        try:
            return _try_process_lock(app)
        except AnotherEmbeddedProcess:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _try_process_lock(app: Flask) -> Any:
    with app.app_context():
        url = db.engine.url
        if url.get_backend_name() == "sqlite":
            return _file_lock(url.database)
        if url.get_backend_name() == "postgresql":
            return _AdvisoryLock(url.render_as_string(hide_password=True))
    log.warning("no process lock for %s: run one process only in embedded mode", url.drivername)
    return _NoLock()


class _NoLock:
    def close(self) -> None:
        return None


def _file_lock(database: str | None) -> Any:
    if not database or database == ":memory:" or database.startswith("file:"):
        return _NoLock()  # a private in-memory database: no other process can share it
    path = Path(database).resolve()
    handle = open(f"{path}.embedded-lock", "a+b")  # noqa: SIM115 (held until stop())
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise _refusal(str(path)) from None
    return handle


class _AdvisoryLock:
    """A PostgreSQL session lock, held by a connection kept out of the pool until closed."""

    KEY = int.from_bytes(hashlib.sha256(b"gateway embedded runtime").digest()[:8], "big") >> 1

    def __init__(self, where: str):
        self._connection = db.engine.connect()
        query = text("SELECT pg_try_advisory_lock(:key)")
        if not self._connection.execute(query, {"key": self.KEY}).scalar():
            self._connection.close()
            raise _refusal(where)
        self._connection.commit()  # a session lock outlives the transaction

    def close(self) -> None:
        # Unlocked at once (a closed session's locks go only when its backend has exited),
        # and the session closed rather than handed back to the pool with the lock.
        self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.KEY})
        self._connection.invalidate()
        self._connection.close()
