"""Benchmark 5, Salesforce -> QuickBooks end to end: fake Salesforce -> callout -> gateway ->
RQ worker -> fake QuickBooks.

- accounts_200: 200 Accounts changed in one Salesforce transaction (one sObject Collections
  call, so one callout of 200 ids); QuickBooks and Salesforce API calls (reads and writes, auth
  excluded) and the seconds from the change until all 200 Customers are right in QuickBooks.
- opportunity_10_lines: an Opportunity with 10 line items, callout received
  (events.received_at) -> Invoice written (the create's end in the fake QuickBooks' calls log).

The callouts are the fake Salesforce's own (its `callout_objects` setting) when the gateway
serves POST /callouts/salesforce; otherwise the events the callout edge would store are stored
by the gateway's own inbox code in a subprocess, and the results say so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import requests

from .e2e import _api_calls, _end_time, _quiet
from .stack import CALLOUT_SECRET, REPO, Stack
from .stats import distribution

MAPPING = Path(__file__).with_name("mapping_to_quickbooks.yaml")
ACCOUNTS = int(os.environ.get("BENCH_SF_ACCOUNTS", "200"))
OPPORTUNITIES = int(os.environ.get("BENCH_SF_OPPORTUNITIES", "20"))
LINES = 10
OBJECTS = ["Account", "Product2", "Opportunity", "OpportunityLineItem"]
TIMEOUT = float(os.environ.get("BENCH_SF_TIMEOUT", "120"))
API = "/services/data/v59.0"

STORE_SCRIPT = """
import json, sys
from datetime import datetime
from gateway import create_app, inbox, queue
from gateway.extensions import db
from gateway.inbox import IncomingEvent
from gateway.models import Company
from gateway.sync_key import FROM_SALESFORCE, SyncKey
body = json.loads(sys.stdin.read())
app = create_app()
with app.app_context():
    company = db.session.query(Company).filter_by(realm_id=body["realm"]).one()
    key = str(SyncKey(FROM_SALESFORCE, company.id, body["object"]))
    events = [
        IncomingEvent(
            source="salesforce",
            dedupe_key=f"{body['realm']}:{body['object']}:{r['id']}:upsert:{r['modstamp']}",
            company_id=company.id, entity=body["object"], record_id=r["id"],
            operation="upsert", occurred_at=datetime.fromisoformat(r["modstamp"]),
            sync_key=key,
        )
        for r in body["records"]
    ]
    inbox.store(events)
    queue.schedule_sync(key)
"""


class SalesforceApi:
    """The fake Salesforce's REST API, as an integration (or a data loader) would call it."""

    def __init__(self, stack: Stack, refresh_token: str):
        fakes = stack.fakes
        self.base, self.verify = fakes.salesforce_url, fakes.ca_bundle
        answer = requests.post(
            f"{self.base}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": "bench-sf-client",
                "client_secret": "bench-sf-secret",
            },
            verify=self.verify,
            timeout=30,
        )
        answer.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def create(self, sobject: str, records: list[dict]) -> list[str]:
        """One sObject Collections call: one transaction, one trigger run, one callout."""
        body = {
            "allOrNone": True,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        answer = self.session.post(
            f"{self.base}{API}/composite/sobjects", json=body, verify=self.verify, timeout=60
        )
        answer.raise_for_status()
        results = answer.json()
        if not all(r.get("success") for r in results):
            raise RuntimeError(f"creating {sobject}: {results[:3]}")
        return [r["id"] for r in results]


class Deliveries:
    """Salesforce changes to the gateway: real callouts, or the stand-in described above."""

    def __init__(self, stack: Stack):
        self.stack = stack
        probe = requests.post(f"{stack.gateway_url}/callouts/salesforce", data=b"{}", timeout=10)
        self.real = probe.status_code != 404
        if self.real:
            stack.fakes.settings("sf", callout_objects=OBJECTS, callout_secret=CALLOUT_SECRET)

    @property
    def how(self) -> str:
        if self.real:
            return "the fake Salesforce's callouts to POST /callouts/salesforce"
        return "events stored by gateway.inbox in a subprocess (no callout edge on this build)"

    def changed(self, sobject: str, ids: list[str]) -> None:
        if self.real:
            return  # the fake Salesforce sends them itself
        wanted = set(ids)
        records = [
            {"id": r["Id"], "modstamp": r["SystemModstamp"].replace("+0000", "+00:00")}
            for r in self.stack.fakes.sf("GET", f"/_fake/sobjects/{sobject}")
            if r["Id"] in wanted
        ]
        body = {"realm": self.stack.realm, "object": sobject, "records": records}
        subprocess.run(
            [sys.executable, "-c", STORE_SCRIPT],
            input=json.dumps(body),
            env=self.stack.env(),
            cwd=REPO,
            text=True,
            check=True,
            timeout=120,
        )


def _wait(condition, timeout: float) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    return None


def accounts_200(stack: Stack, sf: SalesforceApi, deliveries: Deliveries, log) -> dict:
    fakes = stack.fakes
    fakes.clear_calls()
    names = {f"SF Account {n:03}" for n in range(ACCOUNTS)}
    started = time.monotonic()
    ids = sf.create("Account", [{"Name": name, "BillingCity": "Leeds"} for name in names])
    deliveries.changed("Account", ids)

    def all_right() -> bool:
        have = {c["DisplayName"] for c in fakes.customers(stack.realm)}
        return names <= have

    waited = _wait(all_right, TIMEOUT)
    seconds = None if waited is None else round(time.monotonic() - started, 3)
    _quiet(stack)
    calls = {which: _api_calls(fakes.calls(which)) for which in ("qbo", "sf")}
    # the Collections call that made the change is the Salesforce user's, not ours
    calls["sf"]["write"] -= 1
    calls["sf"]["total"] -= 1
    log(f"accounts_200: {seconds} s, QuickBooks {calls['qbo']['total']} calls, "
        f"Salesforce {calls['sf']['total']} calls")  # fmt: skip
    return {
        "accounts": ACCOUNTS,
        "seconds_until_all_right": seconds,
        "quickbooks_calls": calls["qbo"],
        "salesforce_calls": calls["sf"],
        "aims": {"quickbooks_calls": 8, "salesforce_calls": 3},
    }


def opportunity_10_lines(stack: Stack, sf: SalesforceApi, deliveries: Deliveries, log) -> dict:
    fakes = stack.fakes
    [account] = sf.create("Account", [{"Name": "Opportunity owner"}])
    products = sf.create("Product2", [{"Name": f"Product {n}"} for n in range(LINES)])
    deliveries.changed("Account", [account])
    deliveries.changed("Product2", products)
    _wait(lambda: len(fakes.qbo("GET", f"/_fake/companies/{stack.realm}/Item")) >= LINES, 60)
    _quiet(stack)
    latencies = []
    for n in range(OPPORTUNITIES):
        fakes.clear_calls()
        since = stack.sql("SELECT coalesce(max(id), 0) FROM events")[0][0]
        [opportunity] = sf.create(
            "Opportunity",
            [
                {
                    "Name": f"OPP-{n:04}",
                    "AccountId": account,
                    "CloseDate": "2026-11-20",
                    "StageName": "Closed Won",
                }
            ],
        )
        items = [
            {"OpportunityId": opportunity, "Product2Id": p, "Quantity": 2, "UnitPrice": 10 + i}
            for i, p in enumerate(products)
        ]
        sf.create("OpportunityLineItem", items)
        deliveries.changed("Opportunity", [opportunity])

        def invoice_written() -> list[dict]:
            return [
                c
                for c in fakes.calls("qbo")
                if c["kind"] == "write" and c["status"] == 200 and c["path"].endswith("/invoice")
            ]

        if _wait(lambda: invoice_written() != [], 30) is None:
            raise RuntimeError(f"OPP-{n:04} was not written to QuickBooks")
        _quiet(stack)
        rows = stack.sql(
            "SELECT extract(epoch FROM min(received_at)) FROM events WHERE id > %s "
            "AND source = 'salesforce' AND entity = 'Opportunity'",
            since,
        )
        received = float(rows[0][0])
        latencies.append((_end_time(invoice_written()[0]) - received) * 1000)
    invoices = fakes.qbo("GET", f"/_fake/companies/{stack.realm}/Invoice")
    line_counts = Counter(
        sum(1 for line in i["Line"] if line["DetailType"] == "SalesItemLineDetail")
        for i in invoices
    )
    log(f"opportunity_10_lines: p50 {distribution(latencies).get('p50')} ms")
    return {
        "opportunities": OPPORTUNITIES,
        "lines_each": LINES,
        "invoices_by_line_count": {str(k): v for k, v in line_counts.items()},
        "callout_to_invoice_ms": distribution(latencies),
    }


def run(stack: Stack, log, problems: list[str]) -> dict:
    stack.flask("sync-config", "import", str(MAPPING))
    deliveries = Deliveries(stack)
    log(f"Salesforce -> QuickBooks: changes delivered by {deliveries.how}")
    stack.start_workers()
    try:
        sf = SalesforceApi(stack, stack.org["refresh_token"])
        results = {"delivered_by": deliveries.how}
        results["accounts_200"] = accounts_200(stack, sf, deliveries, log)
        results["opportunity_10_lines"] = opportunity_10_lines(stack, sf, deliveries, log)
        failed = stack.sql("SELECT DISTINCT reason FROM events WHERE status = 'failed' LIMIT 5")
        if failed:
            problems.append(f"to_quickbooks: failed events: {[r for (r,) in failed]}")
        return results
    finally:
        stack.stop_workers()
