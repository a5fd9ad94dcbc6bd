"""The reconciler: changes no webhook announced, found with QuickBooks CDC and put in the inbox.

Per company and QuickBooks entity a watermark says how far we have caught up. CDC is asked
for the changes since the watermark (less an overlap for clock skew); each change becomes an
inbox event whose dedupe key is its LastUpdatedTime, so one seen twice (by the overlap or by
a late webhook's CDC twin) is stored once, and the ordinary sync job writes it: unchanged
content is never written again. The watermark moves in the transaction that stores the
events, so a crash before that repeats the catch-up instead of losing it.

CDC takes only a start (`changedSince`) and answers at most 1,000 objects, so each entity is
asked alone, and a full answer is followed by another from its latest change.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import inbox, queue, realtime
from ..connectors.quickbooks import QuickBooksClient, unreadable_answer
from ..extensions import db
from ..inbound.quickbooks import SOURCE
from ..inbound.quickbooks_format import parse_time
from ..inbox import IncomingEvent
from ..models import Company, ConnectionStatus, ObjectMapping, Watermark, utcnow
from ..sync_key import FROM_QUICKBOOKS, SyncKey

log = logging.getLogger(__name__)
CDC_MAX_OBJECTS = 1000
# CDC reads 30 days back; a little less leaves room for the clocks and the call itself.
CDC_REACH = timedelta(days=30) - timedelta(minutes=10)
RECONCILE_LOCK = "reconcile"


def reconcile_all(realm_id: str | None = None, since: datetime | None = None) -> dict:
    """Catch up every connected company (or one); realm id -> entity -> changes stored."""
    query = select(Company).order_by(Company.id)
    if realm_id:
        query = query.where(Company.realm_id == realm_id)
    companies = list(db.session.execute(query).scalars())
    if realm_id and not companies:
        raise LookupError(f"no connected company {realm_id}")
    return {
        company.realm_id: reconcile_company(company, since)
        for company in companies
        if company.status == ConnectionStatus.CONNECTED
    }


def _entities(company: Company) -> list[str]:
    """The QuickBooks entities whose changes real time syncs for this company."""
    return sorted(
        {
            m.quickbooks_type
            for m in db.session.execute(select(ObjectMapping)).scalars()
            if m.flows_to_salesforce() and realtime.is_enabled(m, company)
        }
    )


def reconcile_company(company: Company, since: datetime | None = None) -> dict[str, int]:
    entities = _entities(company)
    if not entities:
        return {}
    qbo = QuickBooksClient(company)
    overlap = timedelta(seconds=current_app.config["RECONCILE_OVERLAP_SECONDS"])
    stored: dict[str, int] = {}
    for entity in entities:
        mark = _watermark(company, entity)
        start = since or (_aware(mark.caught_up_to) - overlap)
        earliest = utcnow() - CDC_REACH
        if start < earliest:
            log.warning(
                "%s %s: changes before %s are out of CDC's reach; run flask sync run to cover them",
                company.realm_id,
                entity,
                earliest.isoformat(),
            )
            start = earliest
        stored[entity] = _catch_up(qbo, company, entity, start, mark)
    return stored


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; ours are all UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _watermark(company: Company, entity: str) -> Watermark:
    mark = db.session.execute(
        select(Watermark).where(
            Watermark.company_id == company.id,
            Watermark.source == FROM_QUICKBOOKS,
            Watermark.object_name == entity,
        )
    ).scalar_one_or_none()
    if mark is None:
        # Nothing before the company was connected was announced to us either: that is
        # what a first sync (flask sync run) is for.
        mark = Watermark(
            company_id=company.id,
            source=FROM_QUICKBOOKS,
            object_name=entity,
            caught_up_to=_aware(company.created_at),
        )
        db.session.add(mark)
    return mark


def backfilled(company: Company, entity: str, since: datetime | None, started: datetime) -> None:
    """A batch run that finished read every record of `entity` changed since `since` as it was
    at `started`: the reconciler need not look before then. The caller commits."""
    mark = _watermark(company, entity)
    caught_up = _aware(mark.caught_up_to)
    if (since is None or _aware(since) <= caught_up) and _aware(started) > caught_up:
        mark.caught_up_to = _aware(started)


def _catch_up(
    qbo: QuickBooksClient, company: Company, entity: str, start: datetime, mark: Watermark
) -> int:
    total = 0
    while True:
        asked_at = utcnow()
        changes = qbo.changes([entity], start.isoformat(timespec="seconds"))[entity]
        found = [_event(company, entity, record) for record in changes]
        count, keys = inbox.store(found)  # commits
        total += count
        latest = max((e.occurred_at for e in found if e.occurred_at), default=None)
        full = len(changes) >= CDC_MAX_OBJECTS
        # Stored, so the watermark may move: to when we asked, or, after a full answer that
        # may have left changes out, to its latest change (the next question starts there).
        mark.caught_up_to = latest if full and latest else asked_at
        db.session.commit()
        for key in sorted(keys):
            queue.schedule_sync(key)
        if not full:
            return total
        if latest is None or latest <= _aware(start):
            raise unreadable_answer(
                f"CDC for {entity} answers {len(changes)} changes at {start.isoformat()} and "
                "no later ones: too many changes in one second to page through"
            )
        start = latest


def _event(company: Company, entity: str, record: dict) -> IncomingEvent:
    record_id = str(record.get("Id", ""))
    deleted = str(record.get("status", "")).lower() == "deleted"
    operation = "delete" if deleted else "update"
    updated = str((record.get("MetaData") or {}).get("LastUpdatedTime", ""))
    return IncomingEvent(
        source=SOURCE,
        dedupe_key=f"cdc:{company.realm_id}:{entity}:{record_id}:{operation}:{updated}",
        company_id=company.id,
        account_id=company.realm_id,
        entity=entity,
        record_id=record_id,
        operation=operation,
        occurred_at=parse_time(updated) if updated else None,
        sync_key=str(SyncKey(FROM_QUICKBOOKS, company.id, entity)),
        reason="found by the reconciler (no webhook announced it)",
    )


def run_exclusively(realm_id: str | None = None) -> dict | None:
    """reconcile_all() unless another process is already at it (None then): however many
    workers run the schedule, one reconciles at a time."""
    work = queue.backend()
    try:
        with work.lock(RECONCILE_LOCK, timeout=current_app.config["SYNC_LOCK_SECONDS"], wait=0.1):
            return reconcile_all(realm_id)
    except queue.LockTimeout:
        return None
