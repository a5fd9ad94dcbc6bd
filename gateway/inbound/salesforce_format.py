"""Parse the Salesforce callout body (callout_contract) into records.

Pure functions: bytes in, a `Callout` out, or `BadCallout` naming what is wrong with the call as
a whole (answered 400: the sender must fix it). A single bad record does not spoil the call: it
comes out as an `UnparsedRecord` and is kept as malformed beside the good ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import callout_contract
from .body import NotJson, parse_json
from .quickbooks_format import parse_time


class BadCallout(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Record:
    id: str
    modstamp: str
    occurred_at: datetime | None
    payload: str


@dataclass(frozen=True)
class UnparsedRecord:
    reason: str
    payload: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class Callout:
    org_id: str
    company_realm: str | None  # None: the default company
    object: str
    type: str | None  # the QuickBooks type asked for, None: every mapping of the object
    operation: str  # as sent: upsert | delete | undelete
    records: list[Record | UnparsedRecord]


def _text(body: dict, key: str, required: bool) -> str | None:
    value = body.get(key)
    if isinstance(value, str) and value.strip():
        return value.strip()
    if required:
        raise BadCallout("invalid_body", f"{key} is required and must be a non-empty string.")
    if value is None or isinstance(value, str):
        return None  # absent or empty: the default
    raise BadCallout("invalid_body", f"{key} must be a string when given.")


def parse(body: bytes) -> Callout:
    try:
        document = parse_json(body)
    except NotJson as exc:
        raise BadCallout("invalid_json", f"The body must be a JSON object: {exc}") from exc
    if not isinstance(document, dict):
        raise BadCallout("invalid_body", "The body must be a JSON object (see the contract).")
    operation = document.get("operation")
    if operation not in callout_contract.OPERATIONS:
        raise BadCallout(
            "invalid_body", f"operation must be one of {', '.join(callout_contract.OPERATIONS)}."
        )
    records = document.get("records")
    if not isinstance(records, list):
        raise BadCallout("invalid_body", "records must be a list of {id, modstamp} objects.")
    if len(records) > callout_contract.MAX_RECORDS:
        raise BadCallout(
            "too_many_records",
            f"{len(records)} records in one call; send at most {callout_contract.MAX_RECORDS}.",
        )
    call = {
        key: _text(document, key, required)
        for key, required in callout_contract.BODY_KEYS.items()
        if key not in ("operation", "records")
    }
    call["operation"] = operation
    return Callout(
        org_id=call["orgId"],
        company_realm=call["companyId"],
        object=call["object"],
        type=call["type"],
        operation=operation,
        records=[_record(item, call) for item in records],
    )


def _record(item: Any, call: dict[str, str | None]) -> Record | UnparsedRecord:
    # The event as received: the record with the call it came in (undelete stays visible).
    payload = json.dumps({**call, "record": item}, sort_keys=True)
    if not isinstance(item, dict):
        return UnparsedRecord("record is not an object", payload)
    values = {}
    for key, required in callout_contract.RECORD_KEYS.items():
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            values[key] = value.strip()
        elif required:
            return UnparsedRecord(f"record without a non-empty {key} string", payload)
    return Record(values["id"], values["modstamp"], parse_time(values["modstamp"]), payload)
