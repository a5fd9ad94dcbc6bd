"""The two platform emulators (tests/fakes), started as a process and driven by their control API.

Only the documented contract is used: `python -m tests.fakes ...` printing one JSON line, and
the /_fake/... control endpoints. Control calls are not counted as API calls by the fakes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .procs import Processes

_local = threading.local()


@dataclass
class Emulators:
    ca_bundle: str
    quickbooks_url: str
    salesforce_url: str

    # -- plumbing ---------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(_local, "session", None)
        if session is None:
            session = _local.session = requests.Session()
        return session

    def call(self, method: str, base: str, path: str, body: Any = None) -> Any:
        # verify= on each call: a REQUESTS_CA_BUNDLE in the environment beats session.verify.
        response = self._session().request(
            method, base + path, json=body, timeout=60, verify=self.ca_bundle
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {base}{path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def qbo(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, self.quickbooks_url, path, body)

    def sf(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, self.salesforce_url, path, body)

    # -- QuickBooks, as a person --------------------------------------------------------------

    def new_company(self, name: str) -> dict:
        return self.qbo("POST", "/_fake/companies", {"name": name})

    def save_customer(self, realm: str, record: dict) -> dict:
        return self.qbo("POST", f"/_fake/companies/{realm}/Customer", record)

    def customers(self, realm: str) -> list[dict]:
        return self.qbo("GET", f"/_fake/companies/{realm}/Customer")

    def save_customers(self, realm: str, records: list[dict], concurrency: int) -> list[dict]:
        """Many edits at once, the way a bulk edit or an import would hit QuickBooks."""
        with ThreadPoolExecutor(concurrency) as pool:
            return list(pool.map(lambda record: self.save_customer(realm, record), records))

    def seed_customers(
        self, realm: str, records: list[dict], per_request: int = 5000
    ) -> list[dict]:
        """Many records through the control API's list form: seeding a big company in seconds
        (one request per record took about ten minutes for 50,000)."""
        saved: list[dict] = []
        for start in range(0, len(records), per_request):
            chunk = records[start : start + per_request]
            saved.extend(self.qbo("POST", f"/_fake/companies/{realm}/Customer", chunk))
        return saved

    def webhooks_pending(self) -> int:
        return self.qbo("GET", "/_fake/webhooks")["pending"]

    # -- Salesforce, as a person --------------------------------------------------------------

    def new_org(self) -> dict:
        return self.sf("POST", "/_fake/org")

    def create_account(self, record: dict) -> dict:
        return self.sf("POST", "/_fake/sobjects/Account", record)

    def accounts(self) -> list[dict]:
        return self.sf("GET", "/_fake/sobjects/Account")

    # -- both ---------------------------------------------------------------------------------

    def calls(self, which: str) -> list[dict]:
        return self.qbo("GET", "/_fake/calls") if which == "qbo" else self.sf("GET", "/_fake/calls")

    def clear_calls(self) -> None:
        self.qbo("DELETE", "/_fake/calls")
        self.sf("DELETE", "/_fake/calls")

    def settings(self, which: str, **values: Any) -> dict:
        return (self.qbo if which == "qbo" else self.sf)("POST", "/_fake/settings", values)


def start(
    processes: Processes,
    repo: Path,
    env: dict[str, str],
    gateway_url: str,
    verifier_token: str,
    callout_secret: str,
    timeout: float = 60.0,
) -> Emulators:
    argv = [
        sys.executable, "-m", "tests.fakes",
        "--quickbooks-port", "0", "--salesforce-port", "0",
        "--gateway-url", gateway_url,
        "--verifier-token", verifier_token,
        "--callout-secret", callout_secret,
    ]  # fmt: skip
    process = processes.start("fakes", argv, env, repo, stdout=subprocess.PIPE)
    found: dict = {}
    ready = threading.Event()

    def read() -> None:
        # The first JSON line is what the contract promises; everything goes to a log too.
        assert process.stdout is not None
        with (processes.log_dir / "fakes.stdout.log").open("a") as log:
            for raw in process.stdout:
                line = raw.decode(errors="replace").strip()
                log.write(line + "\n")
                log.flush()
                if not found and line.startswith("{"):
                    try:
                        found.update(json.loads(line))
                        ready.set()
                    except ValueError:
                        pass
        ready.set()  # stdout closed: the process is gone

    threading.Thread(target=read, name="fakes-stdout", daemon=True).start()
    ready.wait(timeout)
    if not found:
        status = process.poll()
        raise RuntimeError(
            f"python -m tests.fakes printed no JSON line within {timeout:.0f} s "
            f"(exit status {status}); see {processes.log_dir / 'fakes.log'}"
        )
    return Emulators(found["ca_bundle"], found["quickbooks_url"], found["salesforce_url"])
