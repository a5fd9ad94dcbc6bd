"""What differs between PostgreSQL (production) and SQLite (embedded mode), in one place.

Everything else in the gateway writes one SQLAlchemy statement and uses these types, so it never
has to ask which database it is on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from .extensions import db

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """A timestamp that always comes back as an aware UTC datetime.

    PostgreSQL's timestamptz keeps the instant but answers in the session's time zone; SQLite has
    no zone at all and answers naive datetimes (and would store an aware non-UTC value's wall
    clock as if it were UTC). Normalising here means no caller ever checks `tzinfo`.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A naive value can only have come from our own UTC arithmetic: read it as UTC.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00+14:00 has no UTC form in Python. It is passed on as it was
            # before this type existed; refusing such values is the inbound edge's job.
            return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def insert(table: Table) -> Any:
    """An INSERT that can take ON CONFLICT (`on_conflict_do_nothing/do_update`) on either
    database: both dialects spell it the same, but each has its own `insert` construct."""
    module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return module.insert(table)
