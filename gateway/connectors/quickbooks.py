"""QuickBooks Online API client for one company: tokens, limits, Faults.

Reads are metered by Intuit, so callers batch them (`query_by_ids`) and never re-read what a
write response already returned.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta
from typing import Any

import requests
from flask import current_app
from requests_oauthlib import OAuth2Session

from .. import queue
from ..models import Company, utcnow
from ..qbo_entities import NAME_LIST_ENTITIES, resource_path
from . import ConnectorError, Unavailable
from .last_success import note_success
from .ratelimit import Limits, MemoryLimiter, Paused, RedisLimiter
from .tokens import expires_at, refresh_connection, refresh_grant

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = {500, 502, 503, 504}
EXPIRY_MARGIN = timedelta(seconds=60)
MAX_QUERY_RESULTS = 1000


class QuickBooksError(ConnectorError):
    def __init__(
        self,
        status: int,
        errors: list[dict[str, str]],
        intuit_tid: str | None,
        retryable: bool = False,
    ):
        self.status = status
        self.errors = errors
        self.intuit_tid = intuit_tid
        first = errors[0] if errors else {}
        self.code = first.get("code", "")
        detail = "; ".join(
            f"{e.get('code', '?')} {e.get('message', '')}: {e.get('detail', '')}".strip(": ")
            for e in errors
        )
        super().__init__(
            f"QuickBooks {status}: {detail or 'no detail'} (intuit_tid {intuit_tid})",
            retryable=retryable,
        )


class Throttled(QuickBooksError):
    """429: the whole company waits before its next call."""

    def __init__(self, seconds: float, status=429, errors=None, intuit_tid=None):
        super().__init__(status, errors or [], intuit_tid, retryable=True)
        self.seconds = seconds


class _Unauthorized(Exception):
    pass


def unreadable_answer(what: str, intuit_tid: str | None = None) -> QuickBooksError:
    """A 200 that does not say what it should: worth another try, never "no records"."""
    return QuickBooksError(
        200, [{"code": "", "message": what, "detail": ""}], intuit_tid, retryable=True
    )


def query_records(answer: dict, entity: str) -> list[dict]:
    """The records of a query answer. An answer without a QueryResponse is an error: read as
    "no records" it would have the delete policy applied to records that still exist."""
    response = answer.get("QueryResponse")
    if not isinstance(response, dict):
        raise unreadable_answer(f"query answer for {entity} has no QueryResponse")
    records = response.get(entity, [])
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("Id"), str) for r in records
    ):
        raise unreadable_answer(f"query answer for {entity} has records without an Id")
    return records


def limiter() -> RedisLimiter | MemoryLimiter:
    app = current_app
    if "qbo_limiter" not in app.extensions:
        limits = Limits(
            app.config["QBO_MAX_CONCURRENT"],
            app.config["QBO_MAX_PER_SECOND"],
            app.config["QBO_MAX_PER_MINUTE"],
            lease=app.config["QBO_TIMEOUT_SECONDS"] + 10,
        )
        connection = queue.backend().redis
        app.extensions["qbo_limiter"] = (
            RedisLimiter(connection, limits) if connection is not None else MemoryLimiter(limits)
        )
    return app.extensions["qbo_limiter"]


def parse_faults(body: bytes, content_type: str) -> list[dict[str, str]]:
    """Fault envelopes come as JSON with Fault/Error or fault/error keys, or as XML."""
    text = body.decode("utf-8", errors="replace")
    if "xml" in content_type or text.lstrip().startswith("<"):
        # Intuit's throttle answer is XML even when JSON was asked for; a regex is enough here
        # and avoids feeding an XML parser untrusted input.
        return [
            {
                "code": code,
                "message": _xml_text(inner, "Message"),
                "detail": _xml_text(inner, "Detail"),
            }
            for code, inner in re.findall(
                r'<Error[^>]*code="([^"]*)"[^>]*>(.*?)</Error>', text, re.S
            )
        ]
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return []
    return faults_in(document)


def faults_in(document: Any) -> list[dict[str, str]]:
    """Every Fault in a JSON answer, wherever it sits (Intuit documents that a 200 may carry
    one), with Error as a list or a single object.

    A batch answer's per-item Faults belong to their items, so BatchItemResponse is left to
    the caller that sent the batch.
    """
    found: list[dict[str, str]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
            continue
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            if key in ("Fault", "fault") and value is not None:
                for fault in value if isinstance(value, list) else [value]:
                    found.extend(_fault_errors(fault))
            elif key != "BatchItemResponse" and isinstance(value, dict | list):
                stack.append(value)
    return found


def _fault_errors(fault: Any) -> list[dict[str, str]]:
    if not isinstance(fault, dict):
        return [{"code": "", "message": f"Fault {str(fault)[:200]}", "detail": ""}]
    errors = fault.get("Error", fault.get("error"))
    if isinstance(errors, dict):
        errors = [errors]
    if not isinstance(errors, list) or not any(isinstance(e, dict) for e in errors):
        # A Fault with nothing readable in it is still a failure, never an empty answer.
        return [{"code": "", "message": f"Fault {fault.get('type') or ''}".strip(), "detail": ""}]
    return [
        {
            "code": str(error.get("code", "")),
            "message": str(error.get("Message") or error.get("message") or ""),
            "detail": str(error.get("Detail") or error.get("detail") or ""),
        }
        for error in errors
        if isinstance(error, dict)
    ]


def _xml_text(fragment: str, tag: str) -> str:
    match = re.search(rf"<{tag}>(.*?)</{tag}>", fragment, re.S)
    return match.group(1).strip() if match else ""


def _is_server_fault(error: dict[str, str]) -> bool:
    """A Fault that says nothing about our request: no code, or Intuit's severe range
    (10000 and up, "An application error has occurred"). In a 200 it is worth another try;
    a validation or business code (6190 company status, 2010, 610) waits for a person."""
    code = error["code"].strip()
    return not code.isdigit() or int(code) >= 10000


def _is_throttle(errors: list[dict[str, str]]) -> bool:
    return any(
        e["code"].lstrip("0") == "3001" or "ThrottleExceeded" in e["message"] for e in errors
    )


def store_token(company: Company, token: dict) -> None:
    """Keep what a token answer gives. The refresh token may have rotated: store what came
    back, every time, never what was sent."""
    company.access_token = token["access_token"]
    company.refresh_token = token.get("refresh_token") or company.refresh_token
    company.access_token_expires_at = expires_at(token.get("expires_in"), 3600)
    if token.get("x_refresh_token_expires_in"):
        company.refresh_token_expires_at = expires_at(token["x_refresh_token_expires_in"], 0)


def quote(value: str) -> str:
    """A string literal for QuickBooks' query language (it does not escape for us)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class QuickBooksClient:
    def __init__(self, company: Company):
        config = current_app.config
        self.company_id = company.id
        self.realm_id = company.realm_id
        self.base = f"{config['QBO_API_BASE']}/v3/company/{company.realm_id}"
        self.config = config
        # One session for the client's life: its connection to Intuit is reused between calls.
        self.session = OAuth2Session(config["QBO_CLIENT_ID"])
        self._load_tokens(company)

    def _load_tokens(self, company: Company) -> None:
        self.access_token = company.access_token
        self.expires_at = company.access_token_expires_at
        self.session.token = {"access_token": self.access_token, "token_type": "Bearer"}

    # -- tokens ---------------------------------------------------------------------------------

    def _expired(self, expires) -> bool:
        if expires is None:
            return True
        if expires.tzinfo is None:  # SQLite hands back naive datetimes
            expires = expires.replace(tzinfo=utcnow().tzinfo)
        return expires - EXPIRY_MARGIN <= utcnow()

    def refresh(self, failed_token: str | None = None) -> None:
        """Refresh unless another worker already has (its new token is then used as is)."""

        def still_needed(row: Company) -> bool:
            if failed_token is not None:
                return row.access_token == failed_token
            return self._expired(row.access_token_expires_at)

        config = self.config
        row = refresh_connection(
            Company,
            self.company_id,
            f"token:qbo:{self.realm_id}",
            still_needed,
            lambda refresh_token: refresh_grant(
                config["QBO_TOKEN_URL"],
                config["QBO_CLIENT_ID"],
                config["QBO_CLIENT_SECRET"],
                refresh_token,
                config["QBO_TIMEOUT_SECONDS"],
            ),
            store_token,
        )
        self._load_tokens(row)

    # -- calls ----------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json_body: Any = None,
        data: str | None = None,
        content_type: str | None = None,
    ) -> dict:
        if self._expired(self.expires_at):
            self.refresh()
        try:
            return self._send(method, path, params, json_body, data, content_type)
        except _Unauthorized:
            # Expired early or revoked: refresh once (unless someone else just did) and retry.
            self.refresh(failed_token=self.access_token)
            try:
                return self._send(method, path, params, json_body, data, content_type)
            except _Unauthorized as exc:
                raise QuickBooksError(401, [], str(exc) or None, retryable=True) from exc

    def _send(self, method, path, params, json_body, data, content_type) -> dict:
        params = {**(params or {}), "minorversion": self.config["QBO_MINOR_VERSION"]}
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            with limiter().slot(self.realm_id, max_wait=30):
                response = self.session.request(
                    method,
                    f"{self.base}/{path}",
                    params=params,
                    json=json_body,
                    data=data,
                    headers=headers,
                    timeout=self.config["QBO_TIMEOUT_SECONDS"],
                )
        except Paused as exc:
            raise Throttled(exc.seconds, errors=[]) from exc
        except requests.RequestException as exc:
            raise Unavailable(f"QuickBooks unreachable: {exc}") from exc
        return self._result(response)

    def _result(self, response: requests.Response) -> dict:
        tid = response.headers.get("intuit_tid")
        document, faults = self._read_answer(response)
        if response.status_code == 429 or _is_throttle(faults):
            pause = self.config["QBO_THROTTLE_PAUSE_SECONDS"]
            limiter().pause(self.realm_id, pause)
            log.warning("QuickBooks throttled realm %s (intuit_tid %s)", self.realm_id, tid)
            raise Throttled(pause, response.status_code, faults, tid)
        if response.status_code == 401:
            raise _Unauthorized(tid or "")
        if response.status_code != 200 or faults:
            error = QuickBooksError(
                response.status_code,
                faults or [{"code": "", "message": response.reason or "", "detail": ""}],
                tid,
                retryable=response.status_code in RETRYABLE_STATUSES
                or (response.status_code == 200 and any(map(_is_server_fault, faults))),
            )
            log.warning("QuickBooks error for realm %s: %s", self.realm_id, error)
            raise error
        if not isinstance(document, dict):
            raise unreadable_answer("answer is not a JSON object", tid)
        note_success("quickbooks", self.realm_id)
        return document

    @staticmethod
    def _read_answer(response: requests.Response) -> tuple[Any, list[dict[str, str]]]:
        """The parsed JSON answer (None when it is not JSON) and the Faults anywhere in it."""
        content_type = response.headers.get("Content-Type", "")
        if response.status_code == 200 and "xml" not in content_type:
            try:
                document = response.json()
            except (ValueError, RecursionError):
                return None, parse_faults(response.content, content_type)
            return document, faults_in(document)
        return None, parse_faults(response.content, content_type)

    # -- operations -----------------------------------------------------------------------------

    def query(self, statement: str) -> dict:
        # POST keeps long IN (...) lists out of the URL.
        return self.request("POST", "query", data=statement, content_type="application/text")

    def query_by_ids(self, entity: str, ids: list[str]) -> list[dict]:
        """Current state of these records in as few calls as possible, inactive ones included."""
        records: list[dict] = []
        for start in range(0, len(ids), MAX_QUERY_RESULTS):
            chunk = ids[start : start + MAX_QUERY_RESULTS]
            where = f"Id IN ({', '.join(quote(i) for i in chunk)})"
            if entity in NAME_LIST_ENTITIES:
                # Without this an inactive record silently drops out of the answer.
                where += " AND Active IN (true, false)"
            # The entity name comes from a validated mapping; every value went through quote().
            statement = f"SELECT * FROM {entity} WHERE {where} MAXRESULTS {MAX_QUERY_RESULTS}"  # noqa: S608
            records.extend(query_records(self.query(statement), entity))
        return records

    def read(self, entity: str, record_id: str) -> dict:
        record = self.request("GET", f"{resource_path(entity)}/{record_id}").get(entity)
        if not isinstance(record, dict):
            raise unreadable_answer(f"read answer has no {entity}")
        return record
