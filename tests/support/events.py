"""Inbox rows for the sync log's tests, written as the webhook edge writes them (inbox.store)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime

from sqlalchemy import select, update

from gateway import inbox
from gateway.extensions import db
from gateway.models import Company, Event, EventStatus
from gateway.sync_key import FROM_QUICKBOOKS, FROM_SALESFORCE, SyncKey
from tests.support.factories import CUSTOMERS_YAML

_serial = itertools.count(1)
# Account.Name from CompanyName, which a person may leave empty: Salesforce refuses the write.
NAME_FROM_COMPANY_NAME = CUSTOMERS_YAML.replace(
    "{quickbooks: DisplayName, salesforce: Name, required: true}",
    "{quickbooks: CompanyName, salesforce: Name}",
)


def changed_rows(event_page: str) -> list[str]:
    """The rows an event page's diff marks as changed (their HTML)."""
    diff = event_page.split('id="diff-heading"')[1].split("</table>")[0]
    return re.findall(r'<tr class="changed">(.*?)</tr>', diff, re.S)


def fix_the_mapping(runner, tmp_path) -> None:
    """Import the mapping that takes Account.Name from DisplayName, as a person would."""
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(CUSTOMERS_YAML)
    result = runner.invoke(args=["sync-config", "import", str(fixed)])
    assert result.exit_code == 0, result.output


def company(realm: str) -> Company:
    found = db.session.execute(
        select(Company).where(Company.realm_id == realm)
    ).scalar_one_or_none()
    if found is None:
        found = Company(realm_id=realm, name=f"Company {realm}")
        db.session.add(found)
        db.session.commit()
    return found


def add_event(
    realm: str = "9130",
    entity: str = "Customer",
    record_id: str = "1",
    status: str = EventStatus.SYNCED,
    reason: str | None = None,
    source: str = "quickbooks",
    received_at: datetime | None = None,
    failure_cause: str | None = None,
    **values,
) -> Event:
    """Store one event through the inbox, then give it the state a sync would have left."""
    owner = company(realm)
    side = FROM_QUICKBOOKS if source == "quickbooks" else FROM_SALESFORCE
    key = str(SyncKey(side, owner.id, entity))
    incoming = inbox.IncomingEvent(
        source=source,
        dedupe_key=f"test-{next(_serial)}",
        account_id=realm,
        company_id=owner.id,
        entity=entity,
        record_id=record_id,
        operation="update",
        sync_key=key,
        payload='{"test": true}',
    )
    inbox.store([incoming])
    event = db.session.execute(
        select(Event).where(Event.dedupe_key == incoming.dedupe_key)
    ).scalar_one()
    changes = {"status": status, "reason": reason, "failure_cause": failure_cause, **values}
    if status == EventStatus.FAILED:
        changes.setdefault("retryable", False)
        changes.setdefault("attempts", 1)
    if received_at is not None:
        changes["received_at"] = received_at
    db.session.execute(update(Event).where(Event.id == event.id).values(**changes))
    db.session.commit()
    db.session.refresh(event)
    return event
