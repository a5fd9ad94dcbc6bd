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


def save(mapping_id: int, company_id: int, quickbooks_id: str, **values: Any) -> None:
    """Insert or update one link. An upsert, because two jobs may link the same record at once
    (a Customer job, and an Invoice job syncing that Customer first as its parent)."""
    table = RecordLink.__table__
    module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    values["updated_at"] = utcnow()
    statement = module.insert(table).values(
        mapping_id=mapping_id, company_id=company_id, quickbooks_id=quickbooks_id, **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=["mapping_id", "company_id", "quickbooks_id"], set_=values
    )
    db.session.execute(statement)
