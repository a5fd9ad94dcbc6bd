"""What a column can hold: the one place that decides whether received text and times can be
stored in PostgreSQL and read back.

PostgreSQL text cannot contain NUL, psycopg cannot encode lone surrogates (which JSON's
`\\ud800` escapes produce), and a timestamptz outside years 1..9999 in the session's zone is
stored but cannot be read back by psycopg. A sender controls all three.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, String

REPLACEMENT = "\ufffd"
# A day inside the ends of datetime's range, so the value reads back in any session time zone.
EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def clean_text(value: str) -> str:
    """The text with NUL and lone surrogates replaced by U+FFFD (free text: reasons, payloads)."""
    if is_clean(value):
        return value
    # surrogatepass writes a lone surrogate as bytes no UTF-8 decoder accepts; "replace" then
    # turns them into U+FFFD.
    without_nul = value.replace("\x00", REPLACEMENT)
    return without_nul.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def is_clean(value: str) -> bool:
    if "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def column_length(column: Column) -> int | None:
    return column.type.length if isinstance(column.type, String) else None


def fits(value: str, column: Column) -> bool:
    """The value can be stored in the column as it is (an identifier must not be altered)."""
    return misfit(value, column) is None


def misfit(value: str, column: Column) -> str | None:
    """Why the value cannot be stored in the column unaltered, or None when it can."""
    length = column_length(column)
    if length is not None and len(value) > length:
        return f"{column.name} is {len(value)} characters long (the column holds {length})"
    if not is_clean(value):
        return f"{column.name} contains NUL or a lone surrogate, which cannot be stored"
    return None


def storable_time(value: datetime | None) -> datetime | None:
    """The time in UTC if it reads back in any session, else None (the payload keeps the raw)."""
    if value is None:
        return None
    try:
        in_utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return in_utc if EARLIEST <= in_utc <= LATEST else None
