"""Catching up after real time was off: the changes QuickBooks announced meanwhile were stored
as `ignored` (real time off), so switching it back on can hand exactly those to the sync.

The sync reads each record's current state, so old or repeated announcements cost one read and
write nothing that is already in step. Changes made before the gateway heard of them at all
need a batch run instead.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from . import queue
from .extensions import db
from .models import Company, Event, EventStatus
from .sync_key import FROM_QUICKBOOKS, SyncKey


def _ignored_while_off(company: Company, entity: str):
    # The wording the webhook edge stores (gateway.inbound.quickbooks); a test sends real
    # webhooks through it, so a change of wording is caught.
    prefix = f"real time is off for {entity} in company {company.realm_id} "
    return (
        Event.status == EventStatus.IGNORED,
        Event.company_id == company.id,
        Event.entity == entity,
        Event.reason.startswith(prefix, autoescape=True),
    )


def waiting(company: Company, entity: str) -> int:
    """How many announced changes of `entity` in `company` were set aside while it was off."""
    return db.session.scalar(
        select(func.count()).select_from(Event).where(*_ignored_while_off(company, entity))
    )


def catch_up(company: Company, entity: str) -> int:
    """Queue those changes for syncing now (commit, then enqueue). Returns how many."""
    key = str(SyncKey(FROM_QUICKBOOKS, company.id, entity))
    moved = db.session.execute(
        update(Event)
        .where(*_ignored_while_off(company, entity))
        .values(
            status=EventStatus.PENDING,
            sync_key=key,
            reason=None,
            attempts=0,
            not_before=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if moved:
        queue.schedule_sync(key)
    return moved
