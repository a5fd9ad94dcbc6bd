"""The fake Salesforce: login host and instance host in one server, one org at a time."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from flask import Response, request

from gateway.inbound import callout_contract

from . import salesforce_api, salesforce_control, salesforce_oauth
from .control import CallInfo, CallLog, FakeBase, json_response, make_app
from .oauth import TokenStore
from .outbox import Outbox
from .salesforce_api import new_locator, sf_errors
from .salesforce_schema import SfError
from .salesforce_store import Change, Org, SfStore
from .settings import Settings, boolean, choice, integer, number, str_list, text

SETTINGS = {
    "token_lifetime": (7200, number()),
    "rotate_refresh_tokens": (False, boolean),  # Salesforce keeps refresh tokens by default
    "callout_objects": ([], str_list),
    "callout_secret": ("", text),
    "query_page_size": (2000, integer(1)),
    "api_daily_limit": (15000, integer(1)),
    # How an update collection naming one Id twice is answered. "process" is what update()
    # is documented to do; "reject" fails every entry naming a repeated Id, as Apex's
    # "Duplicate id in list" does: the REST behaviour is not confirmed, so both can be tried.
    "repeated_ids": ("process", choice("process", "reject")),
}
# What an injected fault says: by HTTP status, unless the rule's body names an errorCode.
FAULT_CODES = {
    400: "UNABLE_TO_LOCK_ROW",
    401: "INVALID_SESSION_ID",
    403: "REQUEST_LIMIT_EXCEEDED",
    404: "NOT_FOUND",
    429: "REQUEST_LIMIT_EXCEEDED",
    500: "UNKNOWN_EXCEPTION",
    503: "SERVER_UNAVAILABLE",
}
FAULT_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record or 1 records",
    "INVALID_SESSION_ID": "Session expired or invalid",
    "REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
    "NOT_FOUND": "The requested resource does not exist",
    "UNKNOWN_EXCEPTION": "An unexpected error occurred. Please include this ErrorId if you "
    "contact support: 1234567890-12345 (-1234567890)",
    "SERVER_UNAVAILABLE": "Server temporarily unavailable, please try again later",
}


QBO_SYNC_OBJECT = "QBO_Sync__c"


@dataclass(frozen=True)
class CalloutRequest:
    """One record the callout will name, and the company and QuickBooks type it asks for."""

    change: Change
    company_id: str | None = None
    type: str | None = None


class FakeSalesforce(FakeBase):
    deliveries_path = "/_fake/callouts"

    def __init__(self, gateway_url: str | None = None, callout_secret: str = "") -> None:
        self.lock = threading.RLock()
        self.url = "https://127.0.0.1"  # replaced once the server knows its port
        self.settings = Settings(SETTINGS, gateway_url=gateway_url, callout_secret=callout_secret)
        self.calls = CallLog()
        self.store = SfStore()
        self.tokens = TokenStore(
            lambda: salesforce_oauth.access_token(self._org_id()), salesforce_oauth.refresh_token
        )
        self.outbox = Outbox(
            self.settings,
            callout_contract.PATH,
            pack=self._pack,
            sign=self._sign,
            accept=lambda status: 200 <= status < 300,
        )
        self._cursors: dict[str, list[dict]] = {}
        self.app = make_app(
            "fake_salesforce", self, salesforce_oauth, salesforce_api, salesforce_control
        )

    def _org_id(self) -> str:
        return self.store.org.org_id if self.store.org else "00D000000000000"

    def new_org(self) -> Org:
        with self.lock:
            self.tokens.clear()
            self._cursors.clear()
            return self.store.new_org()

    def clear_state(self) -> None:
        self.store.org = None
        self.store.changes.clear()
        self._cursors.clear()

    # --- query paging -----------------------------------------------------------------------

    def first_page(self, records: list[dict], version: str, endpoint: str) -> dict:
        locator = new_locator()
        self._cursors[locator] = records
        return self._page(locator, 0, version, endpoint)

    def next_page(self, cursor: str, version: str, endpoint: str) -> dict:
        locator, _, offset = cursor.rpartition("-")
        if locator not in self._cursors or not offset.isdigit():
            raise SfError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset), version, endpoint)

    def _page(self, locator: str, offset: int, version: str, endpoint: str) -> dict:
        records = self._cursors[locator]
        end = offset + self.settings["query_page_size"]
        page = {
            "totalSize": len(records),
            "done": end >= len(records),
            "records": records[offset:end],
        }
        if page["done"]:
            del self._cursors[locator]
        else:
            page["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
        return page

    # --- callouts ---------------------------------------------------------------------------

    def flush_changes(self) -> None:
        """Hand committed changes of the watched objects to the callout outbox."""
        changes = list(self.store.changes)
        self.store.changes.clear()
        watched = set(self.settings["callout_objects"])
        org_id = self._org_id()
        wanted: list[CalloutRequest] = []
        for change in changes:
            if change.object not in watched:
                continue
            if change.object == QBO_SYNC_OBJECT:
                wanted.extend(self._qbo_sync_request(change))
            else:
                wanted.append(CalloutRequest(change))
        self.outbox.add([(org_id, one) for one in wanted])

    def _qbo_sync_request(self, change: Change) -> list[CalloutRequest]:
        """A "QBO Sync" record (made by a Flow) asks for the record it names to be synced: its
        trigger sends that record, with the company and the QuickBooks type it names."""
        org = self.store.org
        sync = org.records[QBO_SYNC_OBJECT].get(change.id) if org else None
        if change.operation == "delete" or not sync:
            return []
        if (sync.get("Platform__c") or "Salesforce") != "Salesforce":
            return []
        found = org.find(sync.get("Record_Id__c") or "")
        if found is None:
            return []
        obj, record = found
        named = Change(obj, "upsert", record["Id"], record["SystemModstamp"])
        return [CalloutRequest(named, sync.get("QB_Company_Id__c"), sync.get("Type__c"))]

    def _pack(self, events: list[tuple[str, CalloutRequest]]) -> list[tuple[bytes, str]]:
        groups: dict[tuple, list[Change]] = {}
        for org_id, wanted in events:
            change = wanted.change
            key = (org_id, change.object, change.operation, wanted.company_id, wanted.type)
            groups.setdefault(key, []).append(change)
        bodies = []
        batch = callout_contract.MAX_RECORDS
        for (org_id, obj, operation, company_id, qbo_type), changes in groups.items():
            for i in range(0, len(changes), batch):
                body = {"orgId": org_id, "object": obj, "operation": operation}
                # A trigger's callout names no company (the default one) and no type.
                if company_id:
                    body["companyId"] = company_id
                if qbo_type:
                    body["type"] = qbo_type
                body["records"] = [
                    {"id": c.id, "modstamp": c.modstamp} for c in changes[i : i + batch]
                ]
                bodies.append((json.dumps(body).encode(), "application/json"))
        return bodies

    def _sign(self, body: bytes) -> dict[str, str]:
        # Signed at each attempt, as a retried Queueable would, so the timestamp stays fresh.
        timestamp = str(int(time.time()))
        return {
            callout_contract.TIMESTAMP_HEADER: timestamp,
            callout_contract.SIGNATURE_HEADER: callout_contract.signature(
                self.settings["callout_secret"], timestamp, body
            ),
        }

    # --- hooks ------------------------------------------------------------------------------

    def classify(self) -> CallInfo | None:
        path = request.path
        if path.startswith("/services/oauth2/"):
            return CallInfo("auth")
        if path.startswith("/services/data"):
            kind = "read" if request.method == "GET" else "write"
            return CallInfo(kind, self.store.org.org_id if self.store.org else None)
        return None

    def fault_response(self, rule: dict) -> Response:
        body = rule.get("body")
        if isinstance(body, dict | list):
            return json_response(body, rule["status"])
        status = rule["status"]
        code = FAULT_CODES.get(status) or FAULT_CODES[500 if status >= 500 else 400]
        if isinstance(body, str) and body.isupper():
            code = body
        code = rule.get("errorCode", code)
        message = rule.get("message", FAULT_MESSAGES.get(code, code.replace("_", " ").lower()))
        return sf_errors(SfError(code, message, status=status))

    def decorate(self, response: Response, info: CallInfo | None) -> None:
        org = self.store.org
        if org is not None and request.path.startswith("/services/data/v"):
            limit = self.settings["api_daily_limit"]
            response.headers["Sforce-Limit-Info"] = f"api-usage={org.api_usage}/{limit}"
