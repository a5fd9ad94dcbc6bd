"""Both sides edited one record: the later edit wins, by each platform's own clock.

QuickBooks stamps `MetaData.LastUpdatedTime` (whole seconds), Salesforce `SystemModstamp`
(milliseconds), which the callout carries as the event's `occurred_at`. A QuickBooks change
that is older than a Salesforce edit still waiting in the inbox is not written to Salesforce:
that edit goes to QuickBooks instead. (An edit in the same second as the other cannot be
ordered by QuickBooks' clock; the Salesforce one is taken as the later.)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import func, select

from ..extensions import db
from ..models import Event, EventStatus


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def quickbooks_updated_at(record: dict) -> datetime | None:
    return parse_time((record.get("MetaData") or {}).get("LastUpdatedTime"))


def waiting_salesforce_edits(company_id: int, salesforce_ids: Iterable[str]) -> dict[str, datetime]:
    """Salesforce record id -> the time of its latest edit not yet synced to QuickBooks."""
    ids = list(set(salesforce_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(Event.record_id, func.max(Event.occurred_at))
        .where(
            Event.source == "salesforce",
            Event.company_id == company_id,
            Event.record_id.in_(ids),
            Event.status.in_(EventStatus.OPEN),
            Event.operation != "delete",
            Event.occurred_at.is_not(None),
        )
        .group_by(Event.record_id)
    ).all()
    return {
        record_id: moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        for record_id, moment in rows
    }


def conflict_reason(winner: str, winner_time: datetime, loser: str, loser_time: datetime) -> str:
    return (
        f"conflict: the {winner} edit at {winner_time.isoformat()} is later than the {loser} "
        f"edit at {loser_time.isoformat()}; kept the {winner} version"
    )
