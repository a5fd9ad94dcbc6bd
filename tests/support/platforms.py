"""Acting as a person in QuickBooks and Salesforce, through the emulators' control API."""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests


@dataclass
class Platforms:
    fakes: object

    def _call(self, method: str, base: str, path: str, **kwargs):
        response = requests.request(
            method, base + path, verify=self.fakes.ca_bundle, timeout=30, **kwargs
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def qbo(self, method: str, path: str, **kwargs):
        return self._call(method, self.fakes.quickbooks_url, path, **kwargs)

    def sf(self, method: str, path: str, **kwargs):
        return self._call(method, self.fakes.salesforce_url, path, **kwargs)

    # QuickBooks, as a person
    def new_company(self) -> dict:
        return self.qbo("POST", "/_fake/companies", json={"name": "Test Co"})

    def qbo_save(self, realm: str, entity: str, record: dict) -> dict:
        return self.qbo("POST", f"/_fake/companies/{realm}/{entity}", json=record)

    def qbo_action(self, realm: str, entity: str, record_id: str, action: str, **body) -> dict:
        return self.qbo(
            "POST", f"/_fake/companies/{realm}/{entity}/{record_id}/{action}", json=body
        )

    def qbo_records(self, realm: str, entity: str) -> list[dict]:
        return self.qbo("GET", f"/_fake/companies/{realm}/{entity}")

    # Salesforce, as a person
    def new_org(self) -> dict:
        return self.sf("POST", "/_fake/org")

    def sf_records(self, sobject: str, include_deleted: bool = False) -> list[dict]:
        records = self.sf("GET", f"/_fake/sobjects/{sobject}")
        return [r for r in records if include_deleted or not r.get("IsDeleted")]

    def sf_create(self, sobject: str, record: dict) -> dict:
        return self.sf("POST", f"/_fake/sobjects/{sobject}", json=record)

    # both
    def calls(self, which: str, kind: str | None = None) -> list[dict]:
        calls = getattr(self, which)("GET", "/_fake/calls")
        return [call for call in calls if kind is None or call["kind"] == kind]

    def clear_calls(self) -> None:
        self.qbo("DELETE", "/_fake/calls")
        self.sf("DELETE", "/_fake/calls")

    def settings(self, which: str, **values) -> None:
        getattr(self, which)("POST", "/_fake/settings", json=values)

    def fail_next_account_upsert(self, status: int, body: str, **rule) -> None:
        """The next single-Account upsert by external id fails once, as Salesforce would."""
        match = "/sobjects/Account/QBO_Id__c/"
        rule = {"match": match, "status": status, "times": 1, "body": body, **rule}
        self.settings("sf", fail_next=[rule])

    def webhooks(self) -> dict:
        return self.qbo("GET", "/_fake/webhooks")

    def wait_webhooks_delivered(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.webhooks()["pending"] == 0:
                return
            time.sleep(0.05)
        raise AssertionError("the fake QuickBooks still has undelivered webhooks")
