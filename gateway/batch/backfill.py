"""A page of records through the real-time sync's own code: the same mapping, parents first,
match before create, upsert by external id and links. Only two things differ in a batch run:
ambiguous matches are put on the review list under the run, and a dry run writes nothing.
"""

from __future__ import annotations

from ..models import BatchRun, EventStatus, ObjectMapping
from ..sync import links
from ..sync.outcomes import Outcome
from ..sync.to_salesforce import Pending, QuickBooksToSalesforce
from . import reconcile, review

KINDS = ("created", "updated", "linked", "unchanged", "review", "failed")


def kind_of(outcomes: list[Outcome]) -> str:
    """What became of one record, as a batch run counts it."""
    failed = [o for o in outcomes if o.status == EventStatus.FAILED]
    if failed:
        return "review" if any(o.kind == "review" for o in failed) else "failed"
    if not outcomes:
        return "failed"
    last = outcomes[-1]
    if last.kind:
        return last.kind
    # a delete policy applied (synced) or not needed (skipped)
    return "updated" if last.status == EventStatus.SYNCED else "unchanged"


def tally(
    outcomes: dict[tuple[str, str], list[Outcome]], object_name: str, records: list[dict]
) -> dict[str, tuple[str, str]]:
    """Record id -> (kind, what happened) for a page of `object_name` records."""
    found = {}
    for record in records:
        kept = outcomes.get((object_name, record["Id"]), [])
        reason = "; ".join(o.reason or "" for o in kept) or "nothing happened"
        found[record["Id"]] = (kind_of(kept), reason)
    return found


class BatchSync(QuickBooksToSalesforce):
    def __init__(self, company_id: int, entity: str, run_id: int | None, dry_run: bool):
        super().__init__(company_id, entity, events=[])
        self.run_id = run_id
        self.dry_run = dry_run
        self._connect()

    def page(self, spec_row: ObjectMapping, records: list[dict]) -> dict[str, tuple[str, str]]:
        """Sync one page; QuickBooks id -> (kind, what happened) for each of its records."""
        # A page's bookkeeping is dropped before the next, so memory stays flat.
        self.outcomes.clear()
        self.written.clear()
        self.parent_problems.clear()
        self.written_flagged.clear()
        self.quickbooks_state.clear()
        self.attempt_details.clear()  # each record's source and payload: the biggest part
        active = [r for r in records if r.get("Active", True) is not False]
        inactive = {r["Id"]: "inactive in QuickBooks" for r in records if r.get("Active") is False}
        self.push(spec_row, active, depth=0)
        self.remove(spec_row, inactive)
        return tally(self.outcomes, spec_row.quickbooks_type, records)

    def needs_review(
        self, spec_row: ObjectMapping, qbo_id: str, why: str, candidates: list[str]
    ) -> None:
        if not self.dry_run:
            review.flag(spec_row.id, self.company.id, qbo_id, why, candidates, run_id=self.run_id)

    def _write(self, spec_row: ObjectMapping, pending: Pending) -> None:
        if not self.dry_run:
            super()._write(spec_row, pending)
            return
        spec = spec_row.spec
        existing = links.find(spec_row.id, self.company.id, (q for q, _, _ in pending.upserts))
        for qbo_id, _, _ in pending.upserts:
            link = existing.get(qbo_id)
            how = "updated" if link and link.salesforce_id else "created"
            # a child of this page refers to it as if it were written
            self.written[(spec_row.id, qbo_id)] = (link and link.salesforce_id) or f"new:{qbo_id}"
            self._outcomes(spec, qbo_id).append(
                Outcome(EventStatus.SYNCED, f"would be {how}", kind=how)
            )
        for qbo_id, _, _, sf_id in pending.adoptions:
            self.written[(spec_row.id, qbo_id)] = sf_id
            self._outcomes(spec, qbo_id).append(
                Outcome(EventStatus.SYNCED, f"would adopt {sf_id}", kind="linked")
            )

    def remove(self, spec_row: ObjectMapping, removals: dict[str, str]) -> None:
        if not self.dry_run:
            super().remove(spec_row, removals)
            return
        existing = links.find(spec_row.id, self.company.id, removals)
        for qbo_id, reason in removals.items():
            link = existing.get(qbo_id)
            synced = link is not None and link.salesforce_id and not link.deleted
            self._outcomes(spec_row.spec, qbo_id).append(
                Outcome(
                    EventStatus.SYNCED if synced else EventStatus.SKIPPED,
                    f"{reason}; {'its delete policy would apply' if synced else 'nothing to do'}",
                )
            )


class QuickBooksSource:
    """A run's records from QuickBooks: pages by STARTPOSITION (the run's next_position)."""

    id_key = "quickbooks_id"

    def __init__(self, run: BatchRun):
        self.run = run
        self.entity = run.mapping.quickbooks_type
        self.batch = BatchSync(run.company_id, self.entity, run.id, run.dry_run)
        self.since = run.since.isoformat() if run.since else None

    def count(self) -> int:
        return self.batch.qbo.count(self.entity, self.since)

    def read_page(self, size: int) -> list[dict]:
        return self.batch.qbo.query_page(self.entity, self.run.next_position, size, self.since)

    def sync(self, records: list[dict]) -> dict[str, tuple[str, str]]:
        return self.batch.page(self.run.mapping, records)

    def advance(self, records: list[dict]) -> None:
        self.run.next_position += len(records)

    def finished(self) -> None:
        # what no webhook announced before the run started, the run has synced
        reconcile.backfilled(self.run.company, self.entity, self.run.since, self.run.started_at)


def apply_review(item_id: int) -> str:
    """Write the record a person resolved on the review list (matching reads the decision);
    returns what happened. A failure raises, so the job shows failed."""
    from ..extensions import db
    from ..models import ReviewItem, ReviewStatus

    item = db.session.get(ReviewItem, item_id)
    if item is None or item.status != ReviewStatus.RESOLVED:
        return "nothing to do"
    if item.salesforce_id:
        from .backfill_to_quickbooks import apply_review as apply_salesforce_review

        return apply_salesforce_review(item)
    mapping = item.mapping
    sync = BatchSync(item.company_id, mapping.quickbooks_type, item.run_id, dry_run=False)
    records = sync.qbo.query_by_ids(mapping.quickbooks_type, [item.quickbooks_id])
    if not records:
        raise LookupError(f"{mapping.quickbooks_type} {item.quickbooks_id} is gone from QuickBooks")
    kind, reason = sync.page(mapping, records)[item.quickbooks_id]
    db.session.commit()
    if kind in ("failed", "review"):
        raise RuntimeError(f"{mapping.quickbooks_type} {item.quickbooks_id}: {reason}")
    return reason
