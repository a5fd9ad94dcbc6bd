"""Per-company QuickBooks limits shared by every worker: 10 in flight, 10 a second, 500 a minute,
and a pause of the whole company after a 429.

With Redis the state lives in Redis (one Lua script decides atomically); without it (embedded
mode, one process) the same rules run in memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator

import redis

# Returns {0} when a slot was taken, else {wait_ms, paused(0|1)}.
ACQUIRE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local pause = redis.call('PTTL', KEYS[4])
if pause > 0 then return {pause, 1} end
local max_conc, per_sec, per_min, lease = tonumber(ARGV[2]), tonumber(ARGV[3]),
      tonumber(ARGV[4]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) >= max_conc then return {25, 0} end
if redis.call('ZCARD', KEYS[2]) >= per_sec then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {math.max(tonumber(oldest[2]) + 1000 - now, 1), 0}
end
if redis.call('ZCARD', KEYS[3]) >= per_min then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {math.max(tonumber(oldest[2]) + 60000 - now, 1), 0}
end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease + 1000)
redis.call('PEXPIRE', KEYS[2], 2000)
redis.call('PEXPIRE', KEYS[3], 61000)
return {0, 0}
"""


class Paused(Exception):
    def __init__(self, seconds: float):
        super().__init__(f"paused for {seconds:.1f} s after a 429")
        self.seconds = seconds


class Limits:
    def __init__(self, max_concurrent: int, per_second: int, per_minute: int, lease: float):
        self.max_concurrent = max_concurrent
        self.per_second = per_second
        self.per_minute = per_minute
        self.lease = lease  # a crashed caller's slot is freed after this long


class RedisLimiter:
    def __init__(self, connection: redis.Redis, limits: Limits):
        self.redis = connection
        self.limits = limits
        self.script = connection.register_script(ACQUIRE_SCRIPT)

    def _keys(self, company: str) -> list[str]:
        prefix = f"gw:qbo:limit:{{{company}}}"  # one hash slot per company on a cluster
        return [f"{prefix}:inflight", f"{prefix}:second", f"{prefix}:minute", f"{prefix}:pause"]

    @contextlib.contextmanager
    def slot(self, company: str, max_wait: float) -> Iterator[None]:
        keys, token = self._keys(company), uuid.uuid4().hex
        deadline = time.monotonic() + max_wait
        while True:
            wait_ms, paused = self.script(
                keys=keys,
                args=[
                    token,
                    self.limits.max_concurrent,
                    self.limits.per_second,
                    self.limits.per_minute,
                    int(self.limits.lease * 1000),
                ],
            )
            if not wait_ms:
                break
            if paused or time.monotonic() + wait_ms / 1000 > deadline:
                raise Paused(wait_ms / 1000)
            time.sleep(wait_ms / 1000)
        try:
            yield
        finally:
            self.redis.zrem(keys[0], token)

    def pause(self, company: str, seconds: float) -> None:
        self.redis.set(self._keys(company)[3], 1, px=int(seconds * 1000))


class MemoryLimiter:
    def __init__(self, limits: Limits):
        self.limits = limits
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._starts: dict[str, deque] = {}
        self._paused_until: dict[str, float] = {}

    def _try(self, company: str) -> tuple[float, bool]:
        now = time.monotonic()
        with self._lock:
            until = self._paused_until.get(company, 0)
            if until > now:
                return until - now, True
            starts = self._starts.setdefault(company, deque())
            while starts and starts[0] <= now - 60:
                starts.popleft()
            if self._inflight.get(company, 0) >= self.limits.max_concurrent:
                return 0.025, False
            last_second = [t for t in starts if t > now - 1]
            if len(last_second) >= self.limits.per_second:
                return last_second[0] + 1 - now, False
            if len(starts) >= self.limits.per_minute:
                return starts[0] + 60 - now, False
            starts.append(now)
            self._inflight[company] = self._inflight.get(company, 0) + 1
            return 0, False

    @contextlib.contextmanager
    def slot(self, company: str, max_wait: float) -> Iterator[None]:
        deadline = time.monotonic() + max_wait
        while True:
            wait, paused = self._try(company)
            if not wait:
                break
            if paused or time.monotonic() + wait > deadline:
                raise Paused(wait)
            time.sleep(wait)
        try:
            yield
        finally:
            with self._lock:
                self._inflight[company] -= 1

    def pause(self, company: str, seconds: float) -> None:
        with self._lock:
            self._paused_until[company] = time.monotonic() + seconds
