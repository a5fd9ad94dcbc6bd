"""Batch runs from Salesforce to QuickBooks: a page of Salesforce records through the real-time
sync's own code (gateway.sync.to_quickbooks: the same mapping, parents first, QuickBooks
batches, write-back and links), matching before it creates. As in the other direction only two
things differ: ambiguous matches go on the review list under the run, and a dry run writes
nothing (not QuickBooks, not the write-back to Salesforce, not our links or the review list).
"""

from __future__ import annotations

from datetime import UTC

from simple_salesforce.format import format_soql

from ..extensions import db
from ..models import BatchRun, EventStatus, ObjectMapping, ReviewItem, ReviewStatus
from ..sync.outcomes import Outcome
from ..sync.to_quickbooks import Planned, SalesforceToQuickBooks
from . import review
from .backfill import tally


def _kind(status: str, reason: str) -> str | None:
    """What a batch run counts an outcome of the real-time code as."""
    if status == EventStatus.SKIPPED:
        return "unchanged"
    if status != EventStatus.SYNCED:
        return None
    for kind in ("linked", "created"):
        if reason.startswith(kind):
            return kind
    return "updated"


class BatchSyncToQuickBooks(SalesforceToQuickBooks):
    match_before_create = True

    def __init__(self, company_id: int, sobject: str, run_id: int | None, dry_run: bool):
        super().__init__(company_id, sobject, events=[])
        self.run_id = run_id
        self.dry_run = dry_run
        # dry run: (mapping id, Salesforce id) -> the QuickBooks id it would have, so a child
        # refers to a parent the run would have written
        self.would_link: dict[tuple[int, str], str] = {}
        self._connect()

    def page(self, spec_row: ObjectMapping, records: list[dict]) -> dict[str, tuple[str, str]]:
        """Sync one page; Salesforce id -> (kind, what happened) for each of its records."""
        self.outcomes.clear()  # a page's bookkeeping goes before the next: memory stays flat
        self.push(spec_row, records, depth=0)
        return tally(self.outcomes, spec_row.salesforce_object, records)

    def _outcome(
        self, spec: dict, sf_id: str, status: str, reason: str, retryable: bool = False
    ) -> None:
        self.outcomes[(spec["salesforce"], sf_id)].append(
            Outcome(status, reason, retryable, kind=_kind(status, reason))
        )

    def needs_review(
        self, spec_row: ObjectMapping, sf_id: str, why: str, candidates: list[str]
    ) -> None:
        if not self.dry_run:
            review.flag_salesforce(
                spec_row.id, self.company.id, sf_id, why, candidates, run_id=self.run_id
            )

    def _write(self, spec_row: ObjectMapping, planned: list[Planned], *rest) -> None:
        if not self.dry_run:
            super()._write(spec_row, planned, *rest)
            return
        spec = spec_row.spec
        for plan in planned:
            sf_id = plan.record["Id"]
            if plan.quickbooks_id is None:
                how, target = "created", f"new:{sf_id}"
            elif plan.link is None:
                how, target = "linked", plan.quickbooks_id
            else:
                how, target = "updated", plan.quickbooks_id
            self.would_link[(spec_row.id, sf_id)] = target
            what = f"would be {how}"
            if how != "created":
                what += f" ({spec['quickbooks']} {target})"
            self._outcome(spec, sf_id, EventStatus.SYNCED, what)
            self.outcomes[(spec["salesforce"], sf_id)][-1].kind = how

    def _linked(self, parent: ObjectMapping, ids: set[str]) -> dict[str, str]:
        found = super()._linked(parent, ids)
        if self.dry_run:
            for sf_id in set(ids) - found.keys():
                if (parent.id, sf_id) in self.would_link:
                    found[sf_id] = self.would_link[(parent.id, sf_id)]
        return found


class SalesforceSource:
    """A run's records from Salesforce: pages by Id (keyset), the run's checkpoint being the
    last Id stored, so a page is read by one SOQL query however far the run has got."""

    id_key = "salesforce_id"

    def __init__(self, run: BatchRun):
        self.run = run
        self.spec_row = run.mapping
        self.batch = BatchSyncToQuickBooks(
            run.company_id, self.spec_row.salesforce_object, run.id, run.dry_run
        )

    def _where(self, after: str | None) -> str:
        conditions = []
        if after:
            conditions.append(format_soql("Id > {}", after))
        if self.run.since:
            since = self.run.since
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
            # a SOQL date-time literal is unquoted
            conditions.append(
                f"SystemModstamp >= {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
            )
        return f" WHERE {' AND '.join(conditions)}" if conditions else ""

    def count(self) -> int:
        # The object comes from a validated mapping; the values went through format_soql.
        sobject = self.spec_row.salesforce_object
        return self.batch.sf.count(f"SELECT COUNT() FROM {sobject}{self._where(None)}")  # noqa: S608

    def read_page(self, size: int) -> list[dict]:
        spec = self.spec_row.spec
        # The names come from a validated mapping; the values went through format_soql.
        soql = (
            f"SELECT {self.batch._fields(spec)} FROM {spec['salesforce']}"  # noqa: S608
            f"{self._where(self.run.checkpoint)} ORDER BY Id LIMIT {int(size)}"
        )
        return self.batch._with_lines(spec, self.batch.sf.query_all(soql))

    def sync(self, records: list[dict]) -> dict[str, tuple[str, str]]:
        return self.batch.page(self.spec_row, records)

    def advance(self, records: list[dict]) -> None:
        if records:
            self.run.checkpoint = records[-1]["Id"]

    def finished(self) -> None:
        """Nothing to tell the reconciler: it has no Salesforce watermark a run could move."""


def apply_review(item: ReviewItem) -> str:
    """Write the Salesforce record a person resolved on the review list (matching reads the
    decision); returns what happened. A failure raises, so the job shows failed."""
    if item.status != ReviewStatus.RESOLVED:
        return "nothing to do"
    spec_row = item.mapping
    sync = BatchSyncToQuickBooks(
        item.company_id, spec_row.salesforce_object, item.run_id, dry_run=False
    )
    records = sync._read(spec_row, [item.salesforce_id])
    if not records:
        raise LookupError(
            f"{spec_row.salesforce_object} {item.salesforce_id} is gone from Salesforce"
        )
    kind, reason = sync.page(spec_row, records)[item.salesforce_id]
    db.session.commit()
    if kind in ("failed", "review"):
        raise RuntimeError(f"{spec_row.salesforce_object} {item.salesforce_id}: {reason}")
    return reason
