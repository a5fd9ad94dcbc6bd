"""Make sure the real PostgreSQL and Redis the tests need are up: start them when they are
installed but stopped, and fail loudly (never skip) when they cannot be had."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

POSTGRES_START = "pg_ctlcluster --skip-systemctl-redirect {version} main start"
REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port {port} --save '' "
    "--appendonly no --dir /tmp --logfile /tmp/gateway-tests-redis.log"
)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.2)
    return False


def ensure_postgres(host: str, port: int) -> None:
    if port_open(host, port):
        return
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    if shutil.which("pg_ctlcluster") and versions:
        command = POSTGRES_START.format(version=versions[-1].name)
        subprocess.run(command, shell=True, check=False, capture_output=True)  # noqa: S602
        if _wait(host, port, 20):
            return
    pytest.exit(
        f"PostgreSQL is not reachable at {host}:{port} and could not be started. Install it "
        "(apt-get install postgresql) and start it: "
        f"{POSTGRES_START.format(version='<version>')}, or set TEST_DATABASE_URL.",
        returncode=3,
    )


def ensure_redis(host: str, port: int) -> None:
    if port_open(host, port):
        return
    if shutil.which("redis-server"):
        subprocess.run(  # noqa: S602
            REDIS_START.format(port=port), shell=True, check=False, capture_output=True
        )
        if _wait(host, port, 10):
            return
    pytest.exit(
        f"Redis is not reachable at {host}:{port} and could not be started. Install it "
        "(apt-get install redis-server) and start it, or set TEST_REDIS_URL.",
        returncode=3,
    )


class PrivateRedis:
    """A redis-server of our own on a spare port, for tests that stop Redis."""

    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(  # noqa: S603
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not _wait("127.0.0.1", self.port, 10):
            pytest.fail("a private redis-server did not start")
        return self

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)
            self.process = None
        deadline = time.monotonic() + 5
        while port_open("127.0.0.1", self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def env_url(name: str, default: str) -> str:
    return os.environ.get(name) or default
