"""The reconciler's Salesforce side: records changed since a watermark (SystemModstamp) that no
callout brought, put in the inbox for the ordinary sync job.

Per company and Salesforce object (the object of each mapping that real time flows to
QuickBooks, and the object of its line items) a watermark says how far we have caught up.
One queryAll (so deleted records come too, IsDeleted = true) asks for what changed since it,
less an overlap for clock skew, in SystemModstamp order; each page is stored and the
watermark moved in one transaction before the next page is asked for, so memory holds one
page and a crash repeats at most the page it was on.

A change gets the dedupe key the callout edge gives it (`sf:{realm}:{object}:{id}:
{operation}:{modstamp}`), so one a callout brought is dropped; and a change is not stored
when an event for the record at the same or a later SystemModstamp exists already, or, for a
delete, when the record's latest event is a delete (the package's trigger names a deleted
record with its modstamp from before the delete). A changed line item is a change of its
parent and is stored as an upsert of the parent, as the package's trigger sends it.

Our own writes (QuickBooks -> Salesforce syncs, QuickBooks ids written back) are skipped by
who made them: a record last modified by the integration user the gateway acts as
(SalesforceOrg.user_id) is ours, as the package's trigger also holds (it sends nothing for
that user). Telling them apart by content instead would need every mapped field and line
item, which is the sync job's own read, and it is not only a cost: the echo of our write,
stored as a Salesforce change, can win a conflict against a QuickBooks edit made within the
same second (QuickBooks times have whole seconds). So a person who signs in as the
integration user is not reconciled; with no user id known, nothing is skipped. A deleted record
is never skipped so: a delete need not change LastModifiedById, and one that was ours is
found done by the sync job.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from .. import queue, realtime
from ..connectors.salesforce import SalesforceClient
from ..extensions import db
from ..inbound.callout_routing import SOURCE
from ..inbound.quickbooks_format import parse_time
from ..inbox import IncomingEvent
from ..mapping import BOTH, SALESFORCE_TO_QUICKBOOKS
from ..models import (
    Company,
    ConnectionStatus,
    Event,
    EventStatus,
    ObjectMapping,
    SalesforceOrg,
    utcnow,
)
from ..sync.lines import MAX_IDS_PER_QUERY
from ..sync_key import FROM_SALESFORCE, SyncKey
from .watermarks import aware, store_and_move, watermark

log = logging.getLogger(__name__)
# Events that say nothing about whether the change reached QuickBooks.
NOT_PROCESSED = (EventStatus.IGNORED, EventStatus.MALFORMED)


@dataclass(frozen=True)
class Watched:
    """One Salesforce object the reconciler reads, and what a change of one of its records is."""

    sobject: str
    own: bool  # a real-time mapping's object: the change is the record's own
    parents: tuple[tuple[str, str], ...]  # (object, lookup field) of the parents it is a line of


@dataclass
class Change:
    """One change to store: of `record_id`, or of its parent when a line item changed."""

    entity: str
    record_id: str
    operation: str  # upsert | delete
    modstamp: str
    at: datetime
    # (object, id) pairs a callout may have named this change by
    names: tuple[tuple[str, str], ...]

    def key(self, realm: str) -> str:
        # As gateway.inbound.salesforce builds it, so a change a callout brought is one row.
        return f"sf:{realm}:{self.entity}:{self.record_id}:{self.operation}:{self.modstamp}"


def watched_objects(company: Company) -> list[Watched]:
    own: set[str] = set()
    parents: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for mapping in db.session.execute(select(ObjectMapping).order_by(ObjectMapping.id)).scalars():
        if mapping.direction not in (BOTH, SALESFORCE_TO_QUICKBOOKS):
            continue
        if not realtime.is_enabled(mapping, company):
            continue
        own.add(mapping.salesforce_object)
        lines = mapping.spec.get("lines") or {}
        if lines.get("salesforce") and lines.get("parent_field"):
            parents[lines["salesforce"]].add((mapping.salesforce_object, lines["parent_field"]))
    return [
        Watched(name, name in own, tuple(sorted(parents.get(name, ()))))
        for name in sorted(own | parents.keys())
    ]


def reconcile_company(company: Company, since: datetime | None = None) -> dict[str, int]:
    """Salesforce object -> changes stored, for each object real time syncs to QuickBooks."""
    watched = watched_objects(company)
    if not watched:
        return {}
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None or org.status != ConnectionStatus.CONNECTED:
        # Nothing could be synced; the watermarks stay, so reconnecting catches up.
        log.warning("%s: Salesforce is not connected; its side is not reconciled", company.realm_id)
        return {}
    sf = SalesforceClient(org)
    overlap = timedelta(seconds=current_app.config["RECONCILE_OVERLAP_SECONDS"])
    return {
        one.sobject: _catch_up(sf, company, one, since, overlap, org.user_id) for one in watched
    }


def soql_time(moment: datetime) -> str:
    """A SOQL dateTime literal a little before `moment`: whole seconds, and a moment on a whole
    second steps back one, so `>` never leaves out a change stamped exactly at it."""
    floor = aware(moment).replace(microsecond=0)
    if floor == aware(moment):
        floor -= timedelta(seconds=1)
    return floor.strftime("%Y-%m-%dT%H:%M:%SZ")


def _catch_up(
    sf: SalesforceClient,
    company: Company,
    watched: Watched,
    since: datetime | None,
    overlap: timedelta,
    our_user: str | None,
) -> int:
    mark = watermark(company, FROM_SALESFORCE, watched.sobject)
    start = since or (aware(mark.caught_up_to) - overlap)
    fields = ["Id", "SystemModstamp", "IsDeleted", "LastModifiedById"]
    fields += sorted({field for _, field in watched.parents})
    # The object and field names come from validated mappings; the time is ours.
    soql = (
        f"SELECT {', '.join(fields)} FROM {watched.sobject} "  # noqa: S608
        f"WHERE SystemModstamp > {soql_time(start)} ORDER BY SystemModstamp, Id"
    )
    asked_at = utcnow()
    total = 0
    for records, done in sf.query_pages(soql, include_deleted=True):
        changes = [
            change
            for record in records
            if record.get("IsDeleted")
            or not (our_user and record.get("LastModifiedById") == our_user)
            for change in _changes(watched, record)
        ]
        events = _unseen(company, sf.org_id, changes)
        # The last page covers everything up to when we asked; an earlier one up to its last
        # change (a crash before the next page is stored starts again from there).
        last = parse_time(records[-1]["SystemModstamp"]) if records else None
        count, keys = store_and_move(events, mark, asked_at if done or last is None else last)
        total += count
        queue.schedule_syncs(sorted(keys))
    return total


def _changes(watched: Watched, record: dict) -> list[Change]:
    modstamp = str(record.get("SystemModstamp") or "")
    at = parse_time(modstamp)
    if not record.get("Id") or at is None:
        return []
    record_id = record["Id"]
    changes = []
    if watched.own:
        operation = "delete" if record.get("IsDeleted") else "upsert"
        own_name = ((watched.sobject, record_id),)
        changes.append(Change(watched.sobject, record_id, operation, modstamp, at, own_name))
    for parent_object, parent_field in watched.parents:
        parent_id = record.get(parent_field)
        if parent_id:
            # A line added, changed or removed rewrites its parent.
            names = ((parent_object, parent_id), (watched.sobject, record_id))
            changes.append(Change(parent_object, parent_id, "upsert", modstamp, at, names))
    return changes


def _unseen(company: Company, org_id: str, changes: list[Change]) -> list[IncomingEvent]:
    """The changes no stored event covers, as inbox events; one per record, its latest."""
    latest: dict[tuple[str, str], Change] = {}
    for change in changes:
        name = (change.entity, change.record_id)
        if name not in latest or change.at >= latest[name].at:
            latest[name] = change
    known = _known_events(company, {rid for c in latest.values() for _, rid in c.names})
    taken = {row.dedupe_key for rows in known.values() for row in rows}
    events = []
    for change in latest.values():
        processed = [
            row
            for name in change.names
            for row in known.get(name, ())
            if row.status not in NOT_PROCESSED and row.occurred_at is not None
        ]
        if _covered(change, processed):
            continue
        key = change.key(company.realm_id)
        if key in taken:  # stored, but ignored (real time was off then): store it anew
            key += ":reconciled"
        events.append(
            IncomingEvent(
                source=SOURCE,
                dedupe_key=key,
                account_id=org_id,
                company_id=company.id,
                entity=change.entity,
                record_id=change.record_id,
                operation=change.operation,
                occurred_at=change.at,
                sync_key=str(SyncKey(FROM_SALESFORCE, company.id, change.entity)),
                reason="found by the reconciler (no callout announced it)",
            )
        )
    return events


def _covered(change: Change, processed: list) -> bool:
    if any(aware(row.occurred_at) >= change.at for row in processed):
        return True
    if change.operation != "delete":
        return False
    own = [row for row in processed if (row.entity, row.record_id) == change.names[0]]
    newest = max(
        own, key=lambda row: (aware(row.occurred_at), row.operation == "delete"), default=None
    )
    return newest is not None and newest.operation == "delete"


def _known_events(company: Company, record_ids: Iterable[str]) -> dict[tuple[str, str], list]:
    """This company's stored Salesforce events for these records, by (object, record id)."""
    ids = sorted(record_ids)
    found: dict[tuple[str, str], list] = defaultdict(list)
    for start in range(0, len(ids), MAX_IDS_PER_QUERY):
        rows = db.session.execute(
            select(
                Event.dedupe_key,
                Event.entity,
                Event.record_id,
                Event.operation,
                Event.occurred_at,
                Event.status,
            ).where(
                Event.source == SOURCE,
                Event.company_id == company.id,
                Event.record_id.in_(ids[start : start + MAX_IDS_PER_QUERY]),
            )
        )
        for row in rows:
            found[(row.entity, row.record_id)].append(row)
    return found
