"""The reconciler's watermarks: per company, side and object, how far it has caught up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select

from .. import inbox
from ..extensions import db
from ..inbox import IncomingEvent
from ..models import Company, Watermark


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; ours are all UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def watermark(company: Company, source: str, object_name: str) -> Watermark:
    """The stored watermark, or a new one (added to the session, not committed) at the
    company's connection time: nothing before it was announced to us either, which is what a
    first sync (flask sync run) is for."""
    mark = db.session.execute(
        select(Watermark).where(
            Watermark.company_id == company.id,
            Watermark.source == source,
            Watermark.object_name == object_name,
        )
    ).scalar_one_or_none()
    if mark is None:
        mark = Watermark(
            company_id=company.id,
            source=source,
            object_name=object_name,
            caught_up_to=aware(company.created_at),
        )
        db.session.add(mark)
    return mark


def store_and_move(
    events: Sequence[IncomingEvent], mark: Watermark, caught_up_to: datetime
) -> tuple[int, set[str]]:
    """Store the events and move the watermark in the same transaction (inbox.store commits):
    a crash before the commit repeats the catch-up instead of skipping what it found."""

    def move() -> None:
        db.session.add(mark)  # again, if inbox.store rolled back once and dropped a new mark
        mark.caught_up_to = caught_up_to

    return inbox.store(events, before_commit=move)
