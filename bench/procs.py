"""Starting and stopping the processes a benchmark needs, and never leaving one behind.

Every process is started in a session of its own, so stopping it stops its children too
(gunicorn's workers, RQ's work-horses). Each pid is also written to a pid file that
bench/run.sh reads in its trap, in case this Python process dies before its own cleanup.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    def __init__(self, pid_file: Path, log_dir: Path) -> None:
        self.pid_file = pid_file
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path, stdout=None
    ) -> subprocess.Popen:
        if name in self.running:
            raise RuntimeError(f"{name} is already running")
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdout=stdout if stdout is not None else log,
            stderr=log,
            start_new_session=True,
        )
        process._bench_log = log  # type: ignore[attr-defined]
        self.running[name] = process
        with self.pid_file.open("a") as pids:
            pids.write(f"{process.pid}\n")
        return process

    def stop(self, name: str, timeout: float = 15.0) -> None:
        process = self.running.pop(name, None)
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait(5)
        # Children that outlived their leader (a work-horse mid-job) go too.
        _signal_group(process.pid, signal.SIGKILL)
        process._bench_log.close()  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for name in reversed(list(self.running)):
            with contextlib.suppress(Exception):
                self.stop(name)


def _signal_group(pid: int, sig: int) -> None:
    # The group id is the pid of the session leader we started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def wait_until(check: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def http_ok(url: str, verify: str | bool = True) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return requests.get(url, timeout=1, verify=verify).status_code < 500
        except requests.RequestException:
            return False

    return check


def children_of(pid: int) -> list[int]:
    """Every descendant of `pid`, found through /proc/<pid>/task/*/children."""
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            with contextlib.suppress(OSError):
                kids = [int(k) for k in (task / "children").read_text().split()]
                found.extend(kids)
                stack.extend(kids)
    return found
