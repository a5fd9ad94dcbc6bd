"""Latency at a fixed rate: an open-loop generator that does not coordinate with the server.

Request i is due at start + i / rate whatever happened to the earlier ones. Its latency is
measured from that scheduled time to the last byte of the answer, so a stall on the server (or
in this generator) shows up as latency for every request that should have been sent during it,
instead of quietly lowering the rate (coordinated omission). Connections are HTTP/1.1
keep-alive, taken from a pool; a new one is opened only when every open one is busy.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from .stats import distribution

# gunicorn closes a keep-alive connection idle for `keepalive` (5 s in gunicorn.conf.py); one
# idle longer than this is closed here rather than found dead on the next request.
MAX_IDLE_SECONDS = 4.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = time.monotonic()
        self.used = False

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Run:
    host: str
    port: int
    max_connections: int
    idle: list[_Connection] = field(default_factory=list)
    # Requests waiting for a connection, first come first served; each gets one handed over.
    waiting: deque[asyncio.Future] = field(default_factory=deque)
    opened: int = 0
    peak_opened: int = 0
    peak_waiting: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    send_lag_ms: list[float] = field(default_factory=list)

    async def _open(self) -> _Connection:
        self.opened += 1
        self.peak_opened = max(self.peak_opened, self.opened)
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            self.opened -= 1
            raise
        return _Connection(reader, writer)

    async def take(self, fresh: bool = False) -> _Connection:
        now = time.monotonic()
        while self.idle and not fresh:
            connection = self.idle.pop()
            if now - connection.idle_since < MAX_IDLE_SECONDS:
                return connection
            self.drop(connection)
        if self.opened < self.max_connections or fresh:
            return await self._open()
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        self.peak_waiting = max(self.peak_waiting, len(self.waiting))
        return await waiter

    def give_back(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self.idle.append(connection)

    def drop(self, connection: _Connection) -> None:
        connection.close()
        self.opened -= 1
        if self.waiting:  # a waiter would otherwise wait for a connection that is gone
            asyncio.get_running_loop().create_task(self._replace())

    async def _replace(self) -> None:
        try:
            self.give_back(await self._open())
        except OSError as exc:
            self.count_error(exc)
            while self.waiting:
                waiter = self.waiting.popleft()
                if not waiter.done():
                    waiter.set_exception(exc)

    def count_error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self.errors[name] = self.errors.get(name, 0) + 1


async def _exchange(connection: _Connection, raw: bytes) -> tuple[int, bool]:
    """Send one request and read its answer: (status, whether the server closes)."""
    connection.writer.write(raw)
    head = await connection.reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await connection.reader.readexactly(length)
    return status, close


async def _one(run: _Run, raw: bytes, due: float) -> None:
    loop = asyncio.get_running_loop()
    fresh = False
    for attempt in range(3):
        try:
            connection = await run.take(fresh)
        except OSError as exc:
            run.count_error(exc)
            return
        if attempt == 0:
            run.send_lag_ms.append((loop.time() - due) * 1000)
        reused, connection.used = connection.used, True
        try:
            status, close = await asyncio.wait_for(_exchange(connection, raw), timeout=10)
        except asyncio.IncompleteReadError as exc:
            run.drop(connection)
            if reused and not exc.partial:
                # A keep-alive connection the server had closed: send again on a new one.
                fresh = True
                continue
            run.count_error(exc)
            return
        except (OSError, TimeoutError) as exc:
            run.drop(connection)
            run.count_error(exc)
            return
        if close:
            run.drop(connection)
        else:
            run.give_back(connection)
        run.latencies_ms.append((loop.time() - due) * 1000)
        run.statuses[status] = run.statuses.get(status, 0) + 1
        return
    run.errors["gave_up"] = run.errors.get("gave_up", 0) + 1


async def _fixed_rate(
    host: str, port: int, requests: list[bytes], rate: float, max_connections: int
) -> _Run:
    run = _Run(host, port, max_connections)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    tasks = []
    for i, raw in enumerate(requests):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_one(run, raw, due)))
    await asyncio.gather(*tasks)
    for connection in run.idle:
        connection.close()
    return run


def run_fixed_rate(
    host: str, port: int, requests: list[bytes], rate: float, max_connections: int = 64
) -> dict:
    """Send `requests` at `rate` per second; latency from each request's scheduled time."""
    started = time.perf_counter()
    run = asyncio.run(_fixed_rate(host, port, requests, rate, max_connections))
    elapsed = time.perf_counter() - started
    ok = sum(count for status, count in run.statuses.items() if 200 <= status < 300)
    return {
        "rate_target_per_s": rate,
        "requests": len(requests),
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(run.statuses.items())},
        "errors": run.errors,
        "seconds": round(elapsed, 2),
        "connections_used": run.peak_opened,
        "max_connections": max_connections,
        "peak_requests_waiting_for_a_connection": run.peak_waiting,
        "latency_ms": distribution(run.latencies_ms),
        # How late the generator itself was in sending: large values mean it, not the
        # server, was the bottleneck (the latency above still includes it).
        "send_lag_ms": distribution(run.send_lag_ms),
    }
