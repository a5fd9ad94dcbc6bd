"""Timestamps come back aware and in UTC from both databases, so no caller checks `tzinfo`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime, func, select, text

from gateway.extensions import db
from gateway.models import Event

MOUNTAIN = timezone(timedelta(hours=-7))
# One instant, written three ways: in another zone, in UTC, and naive (our own UTC arithmetic).
INSTANT = datetime(2025, 3, 4, 19, 30, 15, 250000, tzinfo=UTC)


def _store_and_read_back() -> Event:
    event = Event(
        source="quickbooks",
        dedupe_key="k",
        occurred_at=INSTANT.astimezone(MOUNTAIN),
        not_before=INSTANT,
        claimed_at=INSTANT.replace(tzinfo=None),
    )
    db.session.add(event)
    db.session.commit()
    db.session.expire_all()
    return db.session.get(Event, event.id)


def _assert_aware_utc(value: datetime) -> None:
    assert value == INSTANT
    assert value.utcoffset() == timedelta(0)


@pytest.fixture
def sqlite_app(make_app, tmp_path):
    embedded = make_app(f"sqlite:///{tmp_path / 'embedded.sqlite3'}", None)
    with embedded.app_context():
        db.create_all()
        yield embedded


def test_sqlite_hands_back_aware_utc_instants(sqlite_app):
    event = _store_and_read_back()
    for value in (event.occurred_at, event.not_before, event.claimed_at, event.received_at):
        assert value.tzinfo is not None
    _assert_aware_utc(event.occurred_at)  # stored as the instant, not Mountain wall-clock time
    _assert_aware_utc(event.not_before)
    _assert_aware_utc(event.claimed_at)
    oldest = db.session.execute(select(func.min(Event.occurred_at))).scalar_one()
    _assert_aware_utc(oldest)  # aggregates keep the column's type
    # Comparisons bind through the type too: this finds the row on SQLite's text timestamps.
    found = db.session.execute(
        select(Event.id).where(Event.occurred_at >= INSTANT.astimezone(MOUNTAIN))
    ).all()
    assert len(found) == 1


def test_postgresql_answers_utc_whatever_the_session_time_zone(app):
    _store_and_read_back()
    db.session.execute(text("SET LOCAL TIME ZONE 'America/Denver'"))
    occurred, oldest = db.session.execute(
        select(Event.occurred_at, func.min(Event.not_before)).group_by(Event.occurred_at)
    ).one()
    for value in (occurred, oldest):
        _assert_aware_utc(value)
        assert value.tzinfo is UTC
    db.session.rollback()


def test_every_timestamp_column_uses_the_utc_type(app):
    plain = [
        f"{table.name}.{column.name}"
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, DateTime)  # the UTC type wraps DateTime, it is not one
    ]
    assert plain == [], "use gateway.dialects.UTCDateTime for these columns"
