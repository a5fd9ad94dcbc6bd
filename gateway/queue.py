"""Where work goes: RQ on Redis when REDIS_URL is set, an in-process worker thread otherwise.

Both backends give the sync the same few primitives: enqueue a job by name, a "job already
scheduled" flag per sync key (coalescing), named locks, and a Redis connection (or None) for the
shared rate limiter.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import queue as stdlib_queue
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Protocol

import redis
from flask import Flask, current_app
from rq import Queue, Retry
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

QUEUE_NAME = "sync"
# Batch runs' pages wait here; workers take from QUEUE_NAME first, so real time never waits
# behind a backfill longer than one page.
BATCH_QUEUE_NAME = "batch"
SYNC_JOB = "gateway.jobs.sync_events"


class LockTimeout(RuntimeError):
    pass


class Backend(Protocol):
    redis: redis.Redis | None

    def enqueue(
        self, func: str, *args: Any, delay: float | None = None, queue_name: str = QUEUE_NAME
    ) -> None: ...
    def mark_scheduled(self, key: str, ttl: float) -> bool: ...
    def clear_scheduled(self, key: str) -> None: ...
    def lock(self, name: str, timeout: float, wait: float) -> contextlib.AbstractContextManager: ...
    def is_locked(self, name: str) -> bool: ...
    def health(self) -> str: ...
    def cache_get(self, key: str) -> Any: ...
    def cache_set(self, key: str, value: Any, ttl: float) -> None: ...


def _call(func: str, args: tuple) -> Any:
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


class RedisBackend:
    def __init__(self, url: str, job_timeout: int):
        self.redis = redis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        self.job_timeout = job_timeout
        self.queue = Queue(
            QUEUE_NAME,
            connection=self.redis,
            serializer=JSONSerializer,
            default_timeout=job_timeout,
        )
        self.batch_queue = Queue(
            BATCH_QUEUE_NAME,
            connection=self.redis,
            serializer=JSONSerializer,
            default_timeout=job_timeout,
        )

    @property
    def queues(self) -> list[Queue]:
        """In the order workers take from them: real time first."""
        return [self.queue, self.batch_queue]

    def enqueue(
        self, func: str, *args: Any, delay: float | None = None, queue_name: str = QUEUE_NAME
    ) -> None:
        options: dict[str, Any] = {
            "result_ttl": 60,  # we never read results; keep Redis small
            "failure_ttl": 7 * 24 * 3600,
            "retry": Retry(max=3, interval=[5, 30, 120]),
        }
        target = self.batch_queue if queue_name == BATCH_QUEUE_NAME else self.queue
        if delay:
            target.enqueue_in(timedelta(seconds=delay), func, *args, **options)
        else:
            target.enqueue(func, *args, **options)

    def mark_scheduled(self, key: str, ttl: float) -> bool:
        return bool(self.redis.set(f"gw:scheduled:{key}", 1, nx=True, px=int(ttl * 1000)))

    def clear_scheduled(self, key: str) -> None:
        self.redis.delete(f"gw:scheduled:{key}")

    def lock(self, name: str, timeout: float, wait: float):
        # Not thread-local: the heartbeat thread extends the lock the job thread holds.
        lock = self.redis.lock(
            f"gw:lock:{name}", timeout=timeout, blocking_timeout=wait, thread_local=False
        )
        return _RedisLock(lock, timeout)

    def is_locked(self, name: str) -> bool:
        return bool(self.redis.exists(f"gw:lock:{name}"))

    def health(self) -> str:
        try:
            self.redis.ping()
            return "ok"
        except redis.RedisError:
            return "down"

    def cache_get(self, key: str) -> Any:
        raw = self.redis.get(f"gw:cache:{key}")
        return None if raw is None else json.loads(raw)

    def cache_set(self, key: str, value: Any, ttl: float) -> None:
        self.redis.set(f"gw:cache:{key}", json.dumps(value), px=int(ttl * 1000))


class _RedisLock:
    """A Redis lock with a short TTL kept alive by a heartbeat while its holder runs.

    A crashed holder's lock lapses within `timeout` seconds, so the sweeper can hand its
    claimed events to another worker soon after.
    """

    def __init__(self, lock, timeout: float):
        self._lock = lock
        self._timeout = timeout
        self._stop = threading.Event()

    def _beat(self) -> None:
        while not self._stop.wait(self._timeout / 3):
            try:
                self._lock.reacquire()
            except (redis.RedisError, redis.exceptions.LockError):
                log.warning("could not extend lock %s", self._lock.name)

    def __enter__(self):
        if not self._lock.acquire():
            raise LockTimeout(self._lock.name)
        threading.Thread(target=self._beat, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        with contextlib.suppress(redis.exceptions.LockError, redis.RedisError):
            self._lock.release()


class InProcessBackend:
    """Embedded mode: one daemon thread runs jobs in this process (make run, SQLite)."""

    redis = None

    def __init__(self, app: Flask):
        self.app = app
        self._jobs: stdlib_queue.Queue = stdlib_queue.Queue()
        self._scheduled: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, tuple[float, Any]] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gateway-jobs", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            func, args = self._jobs.get()
            try:
                with self.app.app_context():
                    _call(func, args)
            except Exception:  # the thread must outlive a failed job; the events record it
                log.exception("job %s%r failed", func, args)
            finally:
                self._jobs.task_done()

    def enqueue(
        self, func: str, *args: Any, delay: float | None = None, queue_name: str = QUEUE_NAME
    ) -> None:
        # One thread, first come first served: a batch run's pages are separate jobs, so
        # real-time jobs enqueued meanwhile run between them.
        self._ensure_thread()
        if delay:
            timer = threading.Timer(delay, self._jobs.put, args=((func, args),))
            timer.daemon = True
            timer.start()
        else:
            self._jobs.put((func, args))

    def mark_scheduled(self, key: str, ttl: float) -> bool:
        with self._guard:
            now = time.monotonic()
            if self._scheduled.get(key, 0) > now:
                return False
            self._scheduled[key] = now + ttl
            return True

    def clear_scheduled(self, key: str) -> None:
        with self._guard:
            self._scheduled.pop(key, None)

    @contextlib.contextmanager
    def lock(self, name: str, timeout: float, wait: float) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=wait):
            raise LockTimeout(name)
        try:
            yield
        finally:
            lock.release()

    def is_locked(self, name: str) -> bool:
        with self._guard:
            lock = self._locks.get(name)
        return bool(lock and lock.locked())

    def health(self) -> str:
        return "not configured"

    def cache_get(self, key: str) -> Any:
        with self._guard:
            expires, value = self._cache.get(key, (0, None))
        return value if expires > time.monotonic() else None

    def cache_set(self, key: str, value: Any, ttl: float) -> None:
        with self._guard:
            self._cache[key] = (time.monotonic() + ttl, value)


def backend() -> Backend:
    return current_app.extensions["gateway_backend"]


def schedule_sync(sync_key: str) -> bool:
    """Make sure one job will drain `sync_key`; False if the queue can't be reached right now.

    The flag is cleared by the job as it starts, before it claims events, so an event stored
    after the claim always finds the flag clear and schedules the next job.
    """
    work = backend()
    try:
        if work.mark_scheduled(sync_key, ttl=current_app.config["JOB_TIMEOUT_SECONDS"]):
            work.enqueue(SYNC_JOB, sync_key)
        return True
    except redis.RedisError as exc:
        # The event is committed as pending; the sweeper enqueues it once Redis is back.
        log.warning("queue unavailable, %s left for the sweeper: %s", sync_key, exc)
        return False


def schedule_sync_later(sync_key: str, delay: float) -> None:
    backend().enqueue(SYNC_JOB, sync_key, delay=delay)


def init_app(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        app.extensions["gateway_backend"] = RedisBackend(
            app.config["REDIS_URL"], app.config["JOB_TIMEOUT_SECONDS"]
        )
    else:
        app.extensions["gateway_backend"] = InProcessBackend(app)
