"""Where work goes: RQ on Redis when REDIS_URL is set, an in-process worker thread otherwise.

Both backends give the sync the same few primitives: enqueue a job by name, a "job already
scheduled" flag per sync key (coalescing), named locks whose holder can prove it still holds
them (fencing), and a Redis connection (or None) for the shared rate limiter.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import queue as stdlib_queue
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any, Protocol

import redis
from flask import Flask, current_app
from redis.backoff import NoBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

QUEUE_NAME = "sync"
SYNC_JOB = "gateway.jobs.sync_events"
# A flagged job in one of these states will still run, so its sync key needs no other. Not
# "started": a running job clears its flag first thing, so a flag still naming a started job
# names one whose work-horse died before it began (RQ marks it failed only much later).
LIVE_JOB_STATES = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


class LockTimeout(RuntimeError):
    pass


class LockLost(RuntimeError):
    """The lock lapsed (or another run took it over): its holder must not write any more."""


class Lease(Protocol):
    token: str

    def check(self) -> None: ...


class Backend(Protocol):
    redis: redis.Redis | None

    def enqueue(
        self, func: str, *args: Any, delay: float | None = None, job_id: str | None = None
    ) -> None: ...
    def mark_scheduled(self, key: str, job_id: str, ttl: float, replace_lost: bool) -> bool: ...
    def clear_scheduled(self, key: str) -> None: ...
    def lock(
        self, name: str, timeout: float, wait: float, token: str | None = None
    ) -> contextlib.AbstractContextManager[Lease]: ...
    def lock_holder(self, name: str) -> str | None: ...
    def health(self) -> str: ...
    def cache_get(self, key: str) -> Any: ...
    def cache_set(self, key: str, value: Any, ttl: float) -> None: ...


def _call(func: str, args: tuple) -> Any:
    module, _, name = func.rpartition(".")
    return getattr(importlib.import_module(module), name)(*args)


class RedisBackend:
    def __init__(self, url: str, job_timeout: int, request_timeout: float):
        # Workers' connection (locks, rate limits, RQ): a command may take a few seconds, and a
        # dropped connection is retried once (redis-py's default retries with backoff for ~30 s).
        self.redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
            retry=RedisRetry(NoBackoff(), 1),
        )
        # Scheduling and health checks, on the webhook's request path: one short try and no
        # retry, so a Redis that hangs costs a request one short timeout; what could not be
        # enqueued is pending in the database and the sweeper enqueues it later.
        self.quick_redis = redis.Redis.from_url(
            url,
            socket_connect_timeout=request_timeout,
            socket_timeout=request_timeout,
            retry=RedisRetry(NoBackoff(), 0),
        )
        self.job_timeout = job_timeout
        options = {"serializer": JSONSerializer, "default_timeout": job_timeout}
        self.queue = Queue(QUEUE_NAME, connection=self.redis, **options)  # what workers listen to
        self._quick_queue = Queue(QUEUE_NAME, connection=self.quick_redis, **options)

    def enqueue(
        self, func: str, *args: Any, delay: float | None = None, job_id: str | None = None
    ) -> None:
        options: dict[str, Any] = {
            "job_id": job_id,
            "result_ttl": 60,  # we never read results; keep Redis small
            "failure_ttl": 7 * 24 * 3600,
            "retry": Retry(max=3, interval=[5, 30, 120]),
        }
        if delay:
            self._quick_queue.enqueue_in(timedelta(seconds=delay), func, *args, **options)
        else:
            self._quick_queue.enqueue(func, *args, **options)

    def mark_scheduled(self, key: str, job_id: str, ttl: float, replace_lost: bool) -> bool:
        """Note that `job_id` will drain `key`; False if another job already will.

        The flag names its job, so a sweeper can tell a job that is still queued from one that
        Redis lost (a restart) or that ended without draining (a failure).
        """
        name, ttl_ms = f"gw:scheduled:{key}", int(ttl * 1000)
        if self.quick_redis.set(name, job_id, nx=True, px=ttl_ms):
            return True
        if not replace_lost:
            return False
        current = self.quick_redis.get(name)
        if current is not None and self._job_alive(current.decode()):
            return False
        self.quick_redis.set(name, job_id, px=ttl_ms)
        return True

    def _job_alive(self, job_id: str) -> bool:
        try:
            job = Job.fetch(job_id, connection=self.quick_redis, serializer=JSONSerializer)
        except NoSuchJobError:
            return False
        return job.get_status(refresh=False) in LIVE_JOB_STATES

    def clear_scheduled(self, key: str) -> None:
        self.redis.delete(f"gw:scheduled:{key}")

    def lock(self, name: str, timeout: float, wait: float, token: str | None = None) -> _RedisLock:
        # Not thread-local: the heartbeat thread extends the lock the job thread holds.
        lock = self.redis.lock(
            f"gw:lock:{name}", timeout=timeout, blocking_timeout=wait, thread_local=False
        )
        return _RedisLock(lock, timeout, token or uuid.uuid4().hex)

    def lock_holder(self, name: str) -> str | None:
        token = self.redis.get(f"gw:lock:{name}")
        return None if token is None else token.decode()

    def health(self) -> str:
        try:
            self.quick_redis.ping()
            return "ok"
        except redis.RedisError:
            return "down"

    def cache_get(self, key: str) -> Any:
        raw = self.redis.get(f"gw:cache:{key}")
        return None if raw is None else json.loads(raw)

    def cache_set(self, key: str, value: Any, ttl: float) -> None:
        self.redis.set(f"gw:cache:{key}", json.dumps(value), px=int(ttl * 1000))

    def close(self) -> None:
        self.redis.close()
        self.quick_redis.close()


class _RedisLock:
    """A Redis lock with a short TTL kept alive by a heartbeat while its holder runs.

    A crashed holder's lock lapses within `timeout` seconds, so the sweeper can hand its
    claimed events to another worker soon after. A live holder that cannot renew it (Redis
    hangs, or the key lapsed and another run took it) learns so from `check()` before its
    next write: the lease counts as valid only until `timeout` after the last renewal that
    Redis confirmed, measured from before that renewal was sent.
    """

    def __init__(self, lock, timeout: float, token: str):
        self._lock = lock
        self._timeout = timeout
        self.token = token
        self._valid_until = 0.0
        self._taken_over = False
        self._stop = threading.Event()

    def _beat(self) -> None:
        while not self._stop.wait(self._timeout / 3):
            sent = time.monotonic()
            try:
                self._lock.reacquire()
                self._valid_until = sent + self._timeout
            except redis.exceptions.LockNotOwnedError:
                log.warning("lock %s lapsed and was lost", self._lock.name)
                self._taken_over = True
                return
            except redis.RedisError:
                log.warning("could not extend lock %s", self._lock.name)

    def check(self) -> None:
        if self._taken_over or time.monotonic() >= self._valid_until:
            raise LockLost(f"{self._lock.name} lapsed: this run stops before its next write")

    def __enter__(self) -> _RedisLock:
        sent = time.monotonic()
        if not self._lock.acquire(token=self.token):
            raise LockTimeout(self._lock.name)
        self._valid_until = sent + self._timeout
        threading.Thread(target=self._beat, name="gateway-lock-heartbeat", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        with contextlib.suppress(redis.exceptions.LockError, redis.RedisError):
            self._lock.release()


class _MemoryLease:
    """A lock held in this process's memory cannot lapse while its holder runs."""

    def __init__(self, token: str):
        self.token = token

    def check(self) -> None:
        return None


class InProcessBackend:
    """Embedded mode: one daemon thread runs jobs in this process (make run, SQLite).

    Only the process that owns the embedded runtime (gateway.embedded) starts the thread;
    in any other process (a CLI command) jobs stay unrun and the events they were for stay
    pending in the database, where the running gateway's sweeper finds them.
    """

    redis = None

    def __init__(self, app: Flask):
        self.app = app
        self._jobs: stdlib_queue.Queue = stdlib_queue.Queue()
        self._scheduled: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._holders: dict[str, str] = {}
        self._cache: dict[str, tuple[float, Any]] = {}
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        with self._guard:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gateway-jobs", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Let the job thread finish its current job and end."""
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(None)
            thread.join(30)

    def _run(self) -> None:
        while True:
            item = self._jobs.get()
            try:
                if item is None:
                    return
                func, args = item
                with self.app.app_context():
                    _call(func, args)
            except Exception:  # the thread must outlive a failed job; the events record it
                log.exception("job %s failed", item)
            finally:
                self._jobs.task_done()

    def enqueue(
        self, func: str, *args: Any, delay: float | None = None, job_id: str | None = None
    ) -> None:
        if delay:
            timer = threading.Timer(delay, self._jobs.put, args=((func, args),))
            timer.daemon = True
            timer.start()
        else:
            self._jobs.put((func, args))

    def mark_scheduled(self, key: str, job_id: str, ttl: float, replace_lost: bool) -> bool:
        # A job queued in this process is never lost while the process runs, so a flag that
        # has not expired always means a live job.
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
    def lock(
        self, name: str, timeout: float, wait: float, token: str | None = None
    ) -> Iterator[_MemoryLease]:
        token = token or uuid.uuid4().hex
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=wait):
            raise LockTimeout(name)
        with self._guard:
            self._holders[name] = token
        try:
            yield _MemoryLease(token)
        finally:
            with self._guard:
                self._holders.pop(name, None)
            lock.release()

    def lock_holder(self, name: str) -> str | None:
        with self._guard:
            return self._holders.get(name)

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
    """Make sure one job will drain `sync_key`; True if this call enqueued it."""
    return schedule_syncs([sync_key]) == 1


def schedule_syncs(sync_keys: Iterable[str], replace_lost: bool = False) -> int:
    """Make sure one job will drain each key; returns how many jobs this call enqueued.

    A key's flag is cleared by its job as it starts, before it claims events, so an event
    stored after the claim always finds the flag clear and schedules the next job.
    `replace_lost` (the sweeper) also enqueues when the flagged job is gone.

    The first Redis error leaves the remaining keys to the sweeper (their events are pending
    in the database): a Redis that hangs costs one short timeout, not one per key.
    """
    work = backend()
    ttl = current_app.config["JOB_TIMEOUT_SECONDS"]
    enqueued = 0
    for sync_key in dict.fromkeys(sync_keys):  # once each, in the caller's order
        job_id = f"sync-{uuid.uuid4().hex}"
        try:
            if work.mark_scheduled(sync_key, job_id, ttl, replace_lost):
                work.enqueue(SYNC_JOB, sync_key, job_id=job_id)
                enqueued += 1
        except redis.RedisError as exc:
            log.warning(
                "queue unavailable, %s and later keys left for the sweeper: %s", sync_key, exc
            )
            break
    return enqueued


def schedule_sync_later(sync_key: str, delay: float) -> None:
    """Drain `sync_key` after `delay` seconds (a rate-limit pause); the flag names this job, so
    the sweeper does not add another when the paused events fall due."""
    work = backend()
    job_id = f"sync-{uuid.uuid4().hex}"
    ttl = delay + current_app.config["JOB_TIMEOUT_SECONDS"]
    work.mark_scheduled(sync_key, job_id, ttl, replace_lost=True)
    work.enqueue(SYNC_JOB, sync_key, delay=delay, job_id=job_id)


def init_app(app: Flask) -> None:
    if app.config["REDIS_URL"]:
        app.extensions["gateway_backend"] = RedisBackend(
            app.config["REDIS_URL"],
            app.config["JOB_TIMEOUT_SECONDS"],
            app.config["REDIS_REQUEST_TIMEOUT_SECONDS"],
        )
    else:
        app.extensions["gateway_backend"] = InProcessBackend(app)
