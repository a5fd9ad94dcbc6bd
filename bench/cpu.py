"""CPU accounting around a measurement, because the machine is shared and noisy.

Requests per second depend on what else runs; CPU time per request much less so. Around each
measurement this records the CPU seconds used by the server's process tree, by the PostgreSQL
backends serving the bench database, and by the whole machine, so the report can say how much
of the machine the system under test actually got.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from .procs import children_of

TICKS = os.sysconf("SC_CLK_TCK")


def _pid_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        # The command may contain spaces; fields after the closing parenthesis are fixed.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def pids_cpu(pids: list[int]) -> dict[int, float]:
    found = {}
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            found[pid] = _pid_cpu(pid)
    return found


def tree_pids(root: int) -> list[int]:
    return [root, *children_of(root)]


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) over all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class Snapshot:
    server: dict[int, float]
    database: dict[int, float]
    machine: tuple[int, int]
    children: float  # CPU of our own finished children (the load generator wrk)
    own: float  # this process (the open-loop generator runs in it)


class CpuMeter:
    """`with CpuMeter(server_root, database_pids_fn) as meter: ...`; then `meter.result(n)`."""

    def __init__(self, server_root: int, database_pids) -> None:
        self.server_root = server_root
        self.database_pids = database_pids
        self.before: Snapshot | None = None
        self.after: Snapshot | None = None

    def _snapshot(self) -> Snapshot:
        times = os.times()
        return Snapshot(
            server=pids_cpu(tree_pids(self.server_root)),
            database=pids_cpu(self.database_pids()),
            machine=machine_jiffies(),
            children=times.children_user + times.children_system,
            own=times.user + times.system,
        )

    def __enter__(self) -> CpuMeter:
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc) -> None:
        self.after = self._snapshot()

    def result(self, requests: int) -> dict:
        before, after = self.before, self.after
        assert before is not None and after is not None

        def used(start: dict[int, float], end: dict[int, float]) -> float:
            return sum(value - start.get(pid, 0.0) for pid, value in end.items())

        server = used(before.server, after.server)
        database = used(before.database, after.database)
        generator = (after.children - before.children) + (after.own - before.own)
        busy = (after.machine[0] - before.machine[0]) / TICKS
        total = (after.machine[1] - before.machine[1]) / TICKS
        others = max(busy - server - database - generator, 0.0)
        per = (lambda seconds: round(1000 * seconds / requests, 3)) if requests else None
        return {
            "server_cpu_s": round(server, 2),
            "database_cpu_s": round(database, 2),
            "generator_cpu_s": round(generator, 2),
            "machine_busy_pct": round(100 * busy / total, 1) if total else None,
            # Everything else on the machine (other users, Redis, the kernel's own work).
            "others_cpu_s": round(others, 2),
            "server_cpu_ms_per_request": per(server) if per else None,
            "database_cpu_ms_per_request": per(database) if per else None,
        }
