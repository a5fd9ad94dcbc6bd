"""The fake QuickBooks Online: one server, many companies."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque

from flask import Response, request

from . import quickbooks_api, quickbooks_control, quickbooks_oauth
from . import quickbooks_faults as faults
from .control import CallInfo, CallLog, FakeBase, json_response, make_app
from .oauth import TokenStore
from .outbox import Outbox
from .quickbooks_store import QboStore
from .quickbooks_webhooks import packer, signature
from .settings import Settings, choice, integer, number, str_list, text

SETTINGS = {
    "token_lifetime": (3600, number()),
    "webhook_format": ("cloudevents", choice("cloudevents", "classic")),
    "verifier_token": ("", text),
    "rate_limit_per_minute": (500, integer(1)),
    "max_concurrent": (10, integer(1)),
    # Properties the query language refuses to filter on (400, as for an unknown property):
    # which aggregate paths Intuit lets a WHERE name is not documented, so tests try both.
    "unfilterable": ([], str_list),
}
OAUTH_PATHS = (
    quickbooks_oauth.AUTHORIZE_PATH,
    quickbooks_oauth.TOKEN_PATH,
    quickbooks_oauth.REVOKE_PATH,
)


def intuit_tid() -> str:
    return f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"


class FakeQuickBooks(FakeBase):
    deliveries_path = "/_fake/webhooks"

    def __init__(self, gateway_url: str | None = None, verifier_token: str = "") -> None:
        self.lock = threading.RLock()
        self.settings = Settings(SETTINGS, gateway_url=gateway_url, verifier_token=verifier_token)
        self.calls = CallLog()
        self.tokens = TokenStore(quickbooks_oauth.access_token, quickbooks_oauth.refresh_token)
        self.outbox = Outbox(
            self.settings,
            "/webhooks/quickbooks",
            pack=packer(lambda: self.settings["webhook_format"]),
            sign=lambda body: {
                "intuit-signature": signature(self.settings["verifier_token"], body)
            },
            accept=lambda status: status == 200,
        )
        self.store = QboStore(emit=lambda event: self.outbox.add([event]))
        self._inflight: dict[str, int] = defaultdict(int)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self.app = make_app(
            "fake_quickbooks", self, quickbooks_oauth, quickbooks_api, quickbooks_control
        )

    def clear_state(self) -> None:
        self.store.companies.clear()
        self._inflight.clear()
        self._recent.clear()

    # --- hooks ------------------------------------------------------------------------------

    def classify(self) -> CallInfo | None:
        path = request.path
        if path.startswith("/v3/company/"):
            parts = path.split("/")
            realm = parts[3] if len(parts) > 3 else None
            resource = parts[4] if len(parts) > 4 else ""
            reads = request.method == "GET" or resource == "query"
            return CallInfo("read" if reads else "write", realm)
        if path in OAUTH_PATHS:
            return CallInfo("auth")
        return None

    def fault_response(self, rule: dict) -> Response:
        style = rule.get("body", "fault")
        if isinstance(style, dict | list):
            return json_response(style, rule["status"])  # a body given verbatim
        err = faults.for_status(rule["status"])
        for key in ("code", "message", "detail", "type"):
            if key in rule:
                setattr(err, key, str(rule[key]))
        if style == "fault-in-200":
            return faults.fault_response(err, "fault", http_status=200)
        return faults.fault_response(err, style if style in ("xml", "lowercase") else "fault")

    def admit(self, info: CallInfo) -> Response | None:
        realm = info.company
        if info.kind == "auth" or realm is None:
            return None
        now = time.monotonic()
        with self.lock:
            recent = self._recent[realm]
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if (
                len(recent) >= self.settings["rate_limit_per_minute"]
                or self._inflight[realm] >= self.settings["max_concurrent"]
            ):
                return faults.fault_response(faults.throttled())
            recent.append(now)
            self._inflight[realm] += 1
        return None

    def meter(self, realm: str, extra_calls: int) -> None:
        with self.lock:
            self._recent[realm].extend([time.monotonic()] * max(extra_calls, 0))

    def release(self, info: CallInfo) -> None:
        if info.kind != "auth" and info.company is not None:
            with self.lock:
                self._inflight[info.company] = max(0, self._inflight[info.company] - 1)

    def decorate(self, response: Response, info: CallInfo | None) -> None:
        response.headers["intuit_tid"] = intuit_tid()
