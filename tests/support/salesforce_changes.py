"""Salesforce changes delivered to the gateway as the package's callout would deliver them.

Until the callout edge (POST /callouts/salesforce) is on this branch, tests store the events
the edge would store, through the same inbox and queue calls, and `SalesforceTrigger` stands in
for the Apex trigger: it notices every changed record of the watched objects (the gateway's own
writes included, as the trigger does) and sends those.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update

from gateway import inbox, queue
from gateway.extensions import db
from gateway.inbound import callout_contract
from gateway.inbox import IncomingEvent
from gateway.models import Company, Event
from gateway.sync_key import FROM_SALESFORCE, SyncKey
from tests.conftest import CALLOUT_SECRET


def send_callout(
    company: Company,
    sobject: str,
    records: list[dict],
    operation: str = "upsert",
    target_type: str | None = None,
) -> int:
    """Send one callout as the package's Queueable does (signed, to the callout edge) and
    return how many events it stored; without the edge on this build, store the events the
    edge would store."""
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
    if response.status_code != 404:
        assert 200 <= response.status_code < 300, response.get_data(as_text=True)
        return _count_events() - before
    return _store_as_the_edge_would(company, sobject, records, operation, target_type)


def _count_events() -> int:
    db.session.rollback()
    return db.session.execute(select(func.count()).select_from(Event)).scalar_one()


def _store_as_the_edge_would(
    company: Company,
    sobject: str,
    records: list[dict],
    operation: str,
    target_type: str | None,
) -> int:
    key = str(SyncKey(FROM_SALESFORCE, company.id, sobject))
    operation = "delete" if operation == "delete" else "upsert"
    events = [
        IncomingEvent(
            source="salesforce",
            dedupe_key=f"sf:{company.realm_id}:{sobject}:{r['Id']}:{r['SystemModstamp']}",
            account_id="00D000000000000AAA",
            company_id=company.id,
            entity=sobject,
            record_id=r["Id"],
            operation=operation,
            occurred_at=datetime.fromisoformat(r["SystemModstamp"].replace("Z", "+00:00")),
            sync_key=key,
        )
        for r in records
    ]
    stored, keys = inbox.store(events)
    if target_type is not None:
        db.session.execute(
            update(Event)
            .where(Event.record_id.in_([r["Id"] for r in records]), Event.target_type.is_(None))
            .values(target_type=target_type)
        )
        db.session.commit()
    for sync_key in keys:
        queue.schedule_sync(sync_key)
    return stored


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
