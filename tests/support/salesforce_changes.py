"""Salesforce changes delivered to the gateway's callout edge as the package's Queueable
delivers them: signed per the callout contract. `SalesforceTrigger` stands in for the Apex
trigger where a test needs to see every save (the gateway's own writes included, as the
trigger without the integration user's bypass does) and to choose when they are sent.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select

from gateway.extensions import db
from gateway.inbound import callout_contract
from gateway.models import Company, Event
from tests.conftest import CALLOUT_SECRET


def send_callout(
    company: Company,
    sobject: str,
    records: list[dict],
    operation: str = "upsert",
    target_type: str | None = None,
) -> int:
    """Send one callout as the package's Queueable does (signed, to the callout edge) and
    return how many events it stored."""
    body = {
        "orgId": "00D000000000000AAA",
        "companyId": company.realm_id,
        "object": sobject,
        "operation": operation,
        "records": [{"id": r["Id"], "modstamp": r["SystemModstamp"]} for r in records],
    }
    if target_type is not None:
        body["type"] = target_type
    raw = json.dumps(body).encode()
    timestamp = str(int(time.time()))
    headers = {
        callout_contract.TIMESTAMP_HEADER: timestamp,
        callout_contract.SIGNATURE_HEADER: callout_contract.signature(
            CALLOUT_SECRET, timestamp, raw
        ),
        "Content-Type": "application/json",
    }
    before = _count_events()
    response = current_app.test_client().post(callout_contract.PATH, data=raw, headers=headers)
    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    return _count_events() - before


def _count_events() -> int:
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(Event)).scalar_one()


@dataclass
class SalesforceTrigger:
    """Sends a callout for every record of `objects` whose SystemModstamp moved since the last
    look, like the after-trigger does for every save (ours included)."""

    platforms: object
    company: Company
    objects: tuple[str, ...]
    seen: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fire()  # what exists now is not a change

    def fire(self, send: bool = False) -> int:
        sent = 0
        for sobject in self.objects:
            changed, deleted = [], []
            for record in self.platforms.sf_records(sobject, include_deleted=True):
                if self.seen.get(record["Id"]) == record["SystemModstamp"]:
                    continue
                self.seen[record["Id"]] = record["SystemModstamp"]
                (deleted if record.get("IsDeleted") else changed).append(record)
            if send and changed:
                sent += send_callout(self.company, sobject, changed)
            if send and deleted:
                sent += send_callout(self.company, sobject, deleted, operation="delete")
        return sent

    def deliver(self) -> int:
        return self.fire(send=True)
