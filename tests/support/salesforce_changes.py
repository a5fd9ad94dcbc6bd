"""Salesforce changes delivered to the gateway as the package's callout would deliver them.

Until the callout edge (POST /callouts/salesforce) is on this branch, tests store the events
the edge would store, through the same inbox and queue calls, and `SalesforceTrigger` stands in
for the Apex trigger: it notices every changed record of the watched objects (the gateway's own
writes included, as the trigger does) and sends those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from gateway import inbox, queue
from gateway.extensions import db
from gateway.inbox import IncomingEvent
from gateway.models import Company, Event
from gateway.sync_key import FROM_SALESFORCE, SyncKey


def send_callout(
    company: Company,
    sobject: str,
    records: list[dict],
    operation: str = "upsert",
    target_type: str | None = None,
    org_id: str = "00D000000000000AAA",
) -> int:
    """Store one callout's records as events and schedule their job; returns how many were new."""
    key = str(SyncKey(FROM_SALESFORCE, company.id, sobject))
    events = [
        IncomingEvent(
            source="salesforce",
            dedupe_key=f"{company.realm_id}:{sobject}:{r['Id']}:{operation}:{r['SystemModstamp']}",
            account_id=org_id,
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
