"""A small wrapper over the fakes' HTTP control API, for tests.

client = FakesClient(fakes)            # or FakesClient({"quickbooks_url": ..., ...})
realm = client.qbo_create_company()["realmId"]
client.qbo_edit(realm, "Customer", {"DisplayName": "Acme"})
client.wait_webhooks_delivered()
"""

from __future__ import annotations

import time
from typing import Any

import requests


class FakesClientError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status, self.body = status, body


class FakesClient:
    def __init__(self, fakes: Any) -> None:
        """`fakes` is a Fakes object or the JSON line the CLI prints."""
        get = fakes.get if isinstance(fakes, dict) else lambda k: getattr(fakes, k)
        self.urls = {"quickbooks": get("quickbooks_url"), "salesforce": get("salesforce_url")}
        self.http = requests.Session()
        self.http.verify = get("ca_bundle")
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would win otherwise

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> FakesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, which: str, method: str, path: str, json: Any = None) -> Any:
        """`which` is "quickbooks" (or "qbo") or "salesforce" (or "sf")."""
        which = {"qbo": "quickbooks", "sf": "salesforce"}.get(which, which)
        resp = self.http.request(method, self.urls[which] + path, json=json, timeout=30)
        body = resp.json() if resp.content else None
        if resp.status_code >= 300:
            raise FakesClientError(resp.status_code, body)
        return body

    # --- both -----------------------------------------------------------------------------

    def reset(self) -> None:
        for which in self.urls:
            self.request(which, "POST", "/_fake/reset")

    def calls(self, which: str) -> list[dict]:
        return self.request(which, "GET", "/_fake/calls")

    def clear_calls(self, which: str | None = None) -> None:
        for name in [which] if which else list(self.urls):
            self.request(name, "DELETE", "/_fake/calls")

    def settings(self, which: str, **changes: Any) -> dict:
        if not changes:
            return self.request(which, "GET", "/_fake/settings")
        return self.request(which, "POST", "/_fake/settings", changes)

    # --- QuickBooks -----------------------------------------------------------------------

    def qbo_create_company(self, name: str | None = None) -> dict:
        return self.request(
            "quickbooks", "POST", "/_fake/companies", {"name": name} if name else {}
        )

    def qbo_edit(self, realm: str, entity: str, body: dict) -> dict:
        """Create (no "Id") or sparse-update (with "Id") as a person editing in QuickBooks."""
        return self.request("quickbooks", "POST", f"/_fake/companies/{realm}/{entity}", body)

    def qbo_edit_many(self, realm: str, entity: str, bodies: list[dict]) -> list[dict]:
        """Many creates or sparse updates in one request (up to 10,000), each as qbo_edit."""
        return self.request("quickbooks", "POST", f"/_fake/companies/{realm}/{entity}", bodies)

    def qbo_delete(self, realm: str, entity: str, id_: str) -> dict:
        return self.request("quickbooks", "POST", f"/_fake/companies/{realm}/{entity}/{id_}/delete")

    def qbo_void(self, realm: str, entity: str, id_: str) -> dict:
        return self.request("quickbooks", "POST", f"/_fake/companies/{realm}/{entity}/{id_}/void")

    def qbo_merge(self, realm: str, entity: str, id_: str, into: str) -> dict:
        return self.request(
            "quickbooks", "POST", f"/_fake/companies/{realm}/{entity}/{id_}/merge", {"into": into}
        )

    def qbo_records(self, realm: str, entity: str) -> list[dict]:
        return self.request("quickbooks", "GET", f"/_fake/companies/{realm}/{entity}")

    def qbo_record(self, realm: str, entity: str, id_: str) -> dict:
        return self.request("quickbooks", "GET", f"/_fake/companies/{realm}/{entity}/{id_}")

    def webhooks(self) -> dict:
        return self.request("quickbooks", "GET", "/_fake/webhooks")

    def wait_webhooks_delivered(self, timeout: float = 10) -> dict:
        return self._wait_outbox("quickbooks", "/_fake/webhooks", timeout)

    # --- Salesforce -----------------------------------------------------------------------

    def sf_create_org(self) -> dict:
        return self.request("salesforce", "POST", "/_fake/org")

    def sf_records(self, obj: str) -> list[dict]:
        return self.request("salesforce", "GET", f"/_fake/sobjects/{obj}")

    def sf_record(self, obj: str, id_: str) -> dict:
        return self.request("salesforce", "GET", f"/_fake/sobjects/{obj}/{id_}")

    def sf_create(self, obj: str, body: dict) -> dict:
        return self.request("salesforce", "POST", f"/_fake/sobjects/{obj}", body)

    def sf_edit(self, obj: str, id_: str, body: dict) -> dict:
        return self.request("salesforce", "PATCH", f"/_fake/sobjects/{obj}/{id_}", body)

    def sf_delete(self, obj: str, id_: str) -> dict:
        return self.request("salesforce", "DELETE", f"/_fake/sobjects/{obj}/{id_}")

    def sf_undelete(self, obj: str, id_: str) -> dict:
        return self.request("salesforce", "POST", f"/_fake/sobjects/{obj}/{id_}/undelete")

    def sf_add_field(self, obj: str, **spec: Any) -> dict:
        return self.request("salesforce", "POST", f"/_fake/fields/{obj}", spec)

    def callouts(self) -> dict:
        return self.request("salesforce", "GET", "/_fake/callouts")

    def wait_callouts_delivered(self, timeout: float = 10) -> dict:
        return self._wait_outbox("salesforce", "/_fake/callouts", timeout)

    def _wait_outbox(self, which: str, path: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            snapshot = self.request(which, "GET", path)
            if snapshot["pending"] == 0:
                return snapshot
            if time.monotonic() > deadline:
                raise TimeoutError(f"{snapshot['pending']} deliveries still pending on {which}")
            time.sleep(0.05)
