"""Running the gateway's own processes (web, worker) as a deployment would: from the
environment, in subprocesses that tests can stop or kill."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIST_SETTINGS = ("QBO_WEBHOOK_VERIFIER_TOKENS", "SF_CALLOUT_SECRETS")


def environment(settings: dict, **extra: str) -> dict[str, str]:
    """The environment variables a deployment would set for these app settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "GUNICORN_"))}
    for name, value in settings.items():
        if name in ("TESTING",) or value is None:
            continue
        if name == "SQLALCHEMY_DATABASE_URI":
            name = "DATABASE_URL"
        env[name] = ",".join(value) if name in LIST_SETTINGS else str(value)
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return env


class Process:
    """A child process in its own process group, so a kill reaches its work-horses too."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path):
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(  # noqa: S603
            args,
            cwd=REPO,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def kill_with_children(self) -> None:
        """SIGKILL the process and its children; an RQ work-horse runs in a session of its own,
        so killing the process group alone would leave it running."""
        children = [int(pid) for pid in _children(self.popen.pid)]
        self.signal(signal.SIGKILL)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout)

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if not self.alive():
                break
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not seen; output:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        if self.alive():
            self.signal(signal.SIGKILL)
            self.popen.wait(10)
        self._log.close()


def _children(pid: int) -> list[str]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += (task / "children").read_text().split()
    return found


def worker(env: dict[str, str], log: Path) -> Process:
    return Process([sys.executable, "worker.py"], env, log)
