"""The reconciler's QuickBooks side: changes no webhook announced, found with CDC and put in
the inbox.

Per company and QuickBooks entity a watermark says how far we have caught up. CDC is asked
for the changes since the watermark (less an overlap for clock skew); each change becomes an
inbox event whose dedupe key is its LastUpdatedTime, so one seen twice (by the overlap or by
a late webhook's CDC twin) is stored once, and the ordinary sync job writes it: unchanged
content is never written again. The watermark moves in the transaction that stores the
events (watermarks.store_and_move), so a crash before that repeats the catch-up instead of
losing it.

CDC takes only a start (`changedSince`) and answers at most 1,000 objects, so each entity is
asked alone, and a full answer is followed by another from its latest change; a second with
more changes than that is handed to a batch run since that second.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import queue, realtime
from ..connectors.quickbooks import QuickBooksClient, unreadable_answer
from ..extensions import db
from ..inbound.quickbooks import SOURCE
from ..inbound.quickbooks_format import parse_time
from ..inbox import IncomingEvent
from ..mapping import QUICKBOOKS_TO_SALESFORCE
from ..models import BatchRun, Company, ObjectMapping, Watermark, utcnow
from ..sync_key import FROM_QUICKBOOKS, SyncKey
from .watermarks import aware, store_and_move, watermark

log = logging.getLogger(__name__)
CDC_MAX_OBJECTS = 1000
# CDC reads 30 days back; a little less leaves room for the clocks and the call itself.
CDC_REACH = timedelta(days=30) - timedelta(minutes=10)


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
    """QuickBooks entity -> changes stored, for each entity real time syncs to Salesforce."""
    entities = _entities(company)
    if not entities:
        return {}
    qbo = QuickBooksClient(company)
    overlap = timedelta(seconds=current_app.config["RECONCILE_OVERLAP_SECONDS"])
    stored: dict[str, int] = {}
    for entity in entities:
        mark = watermark(company, FROM_QUICKBOOKS, entity)
        start = since or (aware(mark.caught_up_to) - overlap)
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


def backfilled(company: Company, entity: str, since: datetime | None, started: datetime) -> None:
    """A batch run that finished read every live record of `entity` changed since `since` as
    it was at `started`. Deletes it cannot see (a query finds live records only), so the
    watermark moves only when what it leaves out is beyond CDC's reach anyway; otherwise the
    reconciler reads CDC from where it was, and what the run wrote is unchanged, not written
    again. The caller commits."""
    mark = watermark(company, FROM_QUICKBOOKS, entity)
    caught_up = aware(mark.caught_up_to)
    out_of_reach = caught_up < utcnow() - CDC_REACH
    if out_of_reach and (since is None or aware(since) <= caught_up):
        mark.caught_up_to = max(aware(started), utcnow() - CDC_REACH)


def _catch_up(
    qbo: QuickBooksClient, company: Company, entity: str, start: datetime, mark: Watermark
) -> int:
    total = 0
    while True:
        asked_at = utcnow()
        changes = qbo.changes([entity], start.isoformat(timespec="seconds"))[entity]
        found = [_event(company, entity, record) for record in changes]
        latest = max((e.occurred_at for e in found if e.occurred_at), default=None)
        full = len(changes) >= CDC_MAX_OBJECTS
        # With the changes stored, the watermark moves: to when we asked, or, after a full
        # answer that may have left changes out, to its latest change (the next question
        # starts there).
        count, keys = store_and_move(found, mark, latest if full and latest else asked_at)
        total += count
        queue.schedule_syncs(sorted(keys))
        if not full:
            return total
        if latest is None:
            raise unreadable_answer(f"CDC for {entity} answers changes without LastUpdatedTime")
        if latest <= aware(start):
            # More than CDC answers changed within one second (an import): CDC cannot page
            # inside it, so a batch run reads what is live from that second on, and CDC goes
            # on after it rather than asking the same second for ever.
            _hand_to_batch_runs(company, entity, aware(start))
            start = aware(start) + timedelta(seconds=1)
            mark.caught_up_to = start
            db.session.commit()
            continue
        start = latest


def _hand_to_batch_runs(company: Company, entity: str, second: datetime) -> None:
    from . import runs  # runs imports the reconciler

    log.warning(
        "%s %s: over %d changes at %s; a batch run since then syncs what is live (deletes "
        "beyond the first %d of that second are not seen)",
        company.realm_id,
        entity,
        CDC_MAX_OBJECTS,
        second.isoformat(),
        CDC_MAX_OBJECTS,
    )
    for mapping in db.session.execute(select(ObjectMapping)).scalars():
        if mapping.quickbooks_type != entity or not mapping.flows_to_salesforce():
            continue
        handed = select(BatchRun.id).where(
            BatchRun.mapping_id == mapping.id,
            BatchRun.company_id == company.id,
            BatchRun.trigger == "reconcile",
            BatchRun.since == second,
        )
        # the overlap of a later round asks the same second again: one run covers it
        if realtime.is_enabled(mapping, company) and db.session.execute(handed).first() is None:
            run = runs.create(
                mapping.name, company.realm_id, QUICKBOOKS_TO_SALESFORCE, second, False, "reconcile"
            )
            runs.enqueue(run.id)


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
