"""The review list: a record that matched several records on the other side (or one another
record already claims) waits here until a person picks its counterpart or says "create new".

Items come from either direction: a QuickBooks record with Salesforce candidates (quickbooks_id)
or a Salesforce record with QuickBooks candidates (salesforce_id). The decision is read by
matching itself (gateway.sync.to_salesforce, gateway.sync.quickbooks_match), so a batch run and
real time both honour it, and a record under review is never written twice.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ..extensions import db
from ..models import CREATE_NEW, ReviewItem, ReviewStatus, utcnow


class ReviewError(ValueError):
    """A decision that cannot be taken; the message says why."""


def decisions(mapping_id: int, company_id: int, quickbooks_ids: Iterable[str]) -> dict[str, str]:
    """QuickBooks id -> the Salesforce id a person picked for it, or CREATE_NEW."""
    ids = list(set(quickbooks_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(ReviewItem.quickbooks_id, ReviewItem.decision).where(
            ReviewItem.mapping_id == mapping_id,
            ReviewItem.company_id == company_id,
            ReviewItem.quickbooks_id.in_(ids),
            ReviewItem.status == ReviewStatus.RESOLVED,
        )
    )
    return {qbo_id: decision for qbo_id, decision in rows if decision}


def salesforce_items(
    mapping_id: int, company_id: int, salesforce_ids: Iterable[str]
) -> dict[str, ReviewItem]:
    """Salesforce id -> its review item (open or resolved), for records going to QuickBooks."""
    ids = list(set(salesforce_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(ReviewItem).where(
            ReviewItem.mapping_id == mapping_id,
            ReviewItem.company_id == company_id,
            ReviewItem.salesforce_id.in_(ids),
        )
    ).scalars()
    return {row.salesforce_id: row for row in rows}


def flag(
    mapping_id: int,
    company_id: int,
    quickbooks_id: str,
    reason: str,
    candidates: list[str],
    run_id: int | None = None,
) -> None:
    """Put (or keep) the record on the review list with the latest candidates. An upsert: a
    batch run and a real-time job may both find the same ambiguity."""
    _upsert("quickbooks_id", quickbooks_id, mapping_id, company_id, reason, candidates, run_id)


def flag_salesforce(
    mapping_id: int,
    company_id: int,
    salesforce_id: str,
    reason: str,
    candidates: list[str],
    run_id: int | None = None,
) -> None:
    """flag() for a Salesforce record whose QuickBooks counterpart a person must pick."""
    _upsert("salesforce_id", salesforce_id, mapping_id, company_id, reason, candidates, run_id)


def _upsert(
    key: str,
    record_id: str,
    mapping_id: int,
    company_id: int,
    reason: str,
    candidates: list[str],
    run_id: int | None,
) -> None:
    module = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    statement = module.insert(ReviewItem.__table__).values(
        mapping_id=mapping_id,
        company_id=company_id,
        **{key: record_id},
        run_id=run_id,
        candidates=sorted(candidates),
        reason=reason,
        status=ReviewStatus.OPEN,
        created_at=utcnow(),
    )
    updates = {"candidates": statement.excluded.candidates, "reason": statement.excluded.reason}
    if run_id is not None:
        updates["run_id"] = statement.excluded.run_id
    statement = statement.on_conflict_do_update(
        index_elements=["mapping_id", "company_id", key], set_=updates
    )
    db.session.connection().execute(statement)


def resolve(item: ReviewItem, decision: str) -> None:
    """Record a person's pick (a candidate's Salesforce id, or CREATE_NEW); the caller commits
    and then schedules gateway.jobs.apply_review so the record is written."""
    if decision != CREATE_NEW and decision not in (item.candidates or []):
        raise ReviewError(
            f"{decision!r} is not one of the candidates ({', '.join(item.candidates or [])}); "
            "pick one of them or create a new record"
        )
    if item.status == ReviewStatus.RESOLVED:
        raise ReviewError("this record was already resolved")
    item.decision = decision
    item.status = ReviewStatus.RESOLVED
    item.resolved_at = utcnow()


def open_items(limit: int = 200) -> list[ReviewItem]:
    return list(
        db.session.execute(
            select(ReviewItem)
            .where(ReviewItem.status == ReviewStatus.OPEN)
            .order_by(ReviewItem.id)
            .limit(limit)
        ).scalars()
    )
