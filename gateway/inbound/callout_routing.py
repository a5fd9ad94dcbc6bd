"""Which company and sync key a Salesforce callout's record belongs to (design §4).

`companyId` absent means the default company: the one marked default, or the only one
connected. When none can be chosen the record is stored as failed with NO_DEFAULT_COMPANY and
waits; `set_default_company()` (the CLI's `flask companies default`, later the admin) gives the
waiting records that company and sends them on.
"""

from __future__ import annotations

from sqlalchemy import select, update

from .. import queue, realtime
from ..extensions import db
from ..mapping import SALESFORCE_TO_QUICKBOOKS
from ..models import Company, Event, EventStatus
from ..qbo_entities import canonical_entity
from ..sync_key import FROM_SALESFORCE, SyncKey
from .storable import fits

SOURCE = "salesforce"
NO_DEFAULT_COMPANY = "no default company"


def default_company() -> Company | None:
    marked = db.session.execute(
        select(Company).where(Company.is_default.is_(True)).order_by(Company.id).limit(1)
    ).scalar_one_or_none()
    if marked is not None:
        return marked
    only = db.session.execute(select(Company).limit(2)).scalars().all()
    return only[0] if len(only) == 1 else None


def no_default_reason() -> str:
    return (
        f"{NO_DEFAULT_COMPANY}: the callout names no companyId and no single company is "
        "connected or marked default; run `flask companies default REALM_ID` and it is retried"
    )


def realtime_types(company: Company, salesforce_object: str) -> frozenset[str]:
    """The QuickBooks types the object syncs to in real time for this company."""
    if not fits(salesforce_object, Event.__table__.c.entity):
        return frozenset()  # no mapping has it, and the query could not even carry it
    mappings = realtime.enabled_mappings(company, SALESFORCE_TO_QUICKBOOKS, salesforce_object)
    return frozenset(mapping.quickbooks_type for mapping in mappings)


def route(
    company_id: int, salesforce_object: str, target_type: str | None, types: frozenset[str]
) -> tuple[str, str]:
    """(status, sync key or reason): pending under a sync key when a real-time mapping takes
    the object (and the QuickBooks type asked for, if any), else ignored and why."""
    if not types:
        return EventStatus.IGNORED, (
            f"real time is off for {salesforce_object} (no real-time mapping to QuickBooks)"
        )
    if target_type is not None and canonical_entity(target_type) not in types:
        return EventStatus.IGNORED, (
            f"no real-time mapping of {salesforce_object} to {target_type} "
            f"(real time maps it to {', '.join(sorted(types))})"
        )
    return EventStatus.PENDING, str(SyncKey(FROM_SALESFORCE, company_id, salesforce_object))


def set_default_company(realm_id: str) -> int:
    """Mark the company default and send on the callout records that waited for one; returns
    how many records were handed to it. LookupError when no company has that realm id."""
    company = db.session.execute(
        select(Company).where(Company.realm_id == realm_id)
    ).scalar_one_or_none()
    if company is None:
        raise LookupError(f"no connected company has realm id {realm_id}")
    db.session.execute(update(Company).where(Company.id != company.id).values(is_default=False))
    company.is_default = True
    db.session.commit()
    return adopt_waiting_callouts()


def adopt_waiting_callouts() -> int:
    """Give the records that waited for a default company to the default company, if there is
    one now (marked, or the only one connected); returns how many."""
    company = default_company()
    if company is None:
        return 0
    waiting = db.session.execute(
        select(Event).where(
            Event.source == SOURCE,
            Event.status == EventStatus.FAILED,
            Event.company_id.is_(None),
            Event.reason.startswith(NO_DEFAULT_COMPANY),
        )
    ).scalars()
    keys, adopted = set(), 0
    for event in waiting:
        types = realtime_types(company, event.entity) if event.entity else frozenset()
        status, detail = route(company.id, event.entity, event.target_type, types)
        event.company_id, event.status, event.retryable, event.attempts = (
            company.id,
            status,
            None,
            0,
        )
        if status == EventStatus.PENDING:
            event.sync_key, event.reason = detail, None
            keys.add(detail)
        else:
            event.reason = detail
        adopted += 1
    db.session.commit()
    queue.schedule_syncs(sorted(keys))
    return adopted
