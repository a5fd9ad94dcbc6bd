"""Record links: which Salesforce record stands for which QuickBooks record, per mapping."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import RecordLink, utcnow


def find(mapping_id: int, company_id: int, quickbooks_ids: Iterable[str]) -> dict[str, RecordLink]:
    ids = list(set(quickbooks_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(RecordLink).where(
            RecordLink.mapping_id == mapping_id,
            RecordLink.company_id == company_id,
            RecordLink.quickbooks_id.in_(ids),
        )
    ).scalars()
    return {row.quickbooks_id: row for row in rows}


def linked_to(mapping_id: int, company_id: int, salesforce_ids: Iterable[str]) -> dict[str, str]:
    """Salesforce id -> the QuickBooks id already linked to it (deleted and merged links too:
    their Salesforce record still stands for that QuickBooks record)."""
    ids = list(set(salesforce_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(RecordLink.salesforce_id, RecordLink.quickbooks_id)
        .where(
            RecordLink.mapping_id == mapping_id,
            RecordLink.company_id == company_id,
            RecordLink.salesforce_id.in_(ids),
        )
        .order_by(RecordLink.id)
    )
    found: dict[str, str] = {}
    for salesforce_id, quickbooks_id in rows:
        found.setdefault(salesforce_id, quickbooks_id)
    return found


class LinkWrites:
    """Link changes gathered during a run and written together: one statement per kind of
    change instead of one per record."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def save(self, mapping_id: int, company_id: int, quickbooks_id: str, **values: Any) -> None:
        row = {
            "mapping_id": mapping_id,
            "company_id": company_id,
            "quickbooks_id": quickbooks_id,
            **values,
        }
        self._rows.setdefault(tuple(sorted(values)), []).append(row)

    def flush(self) -> None:
        """Insert or update the gathered links. An upsert, because two jobs may link the same
        record at once (a Customer job, and an Invoice job syncing that Customer first)."""
        table = RecordLink.__table__
        module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        for columns, rows in self._rows.items():
            statement = module.insert(table)
            updates = {name: statement.excluded[name] for name in (*columns, "updated_at")}
            statement = statement.on_conflict_do_update(
                index_elements=["mapping_id", "company_id", "quickbooks_id"], set_=updates
            )
            now = utcnow()
            db.session.connection().execute(statement, [{**row, "updated_at": now} for row in rows])
        self._rows.clear()
