"""Parents before children: the Salesforce ids a batch's lookups need (an Invoice's Customer).

A parent that is not in Salesforce yet is synced first, in the same run, but only as its own
mapping allows:

- a mapping that does not flow to Salesforce, or does not apply to the company, is never
  written from here: the child resolves through an existing link or fails saying so;
- with real time off for the company, a parent is written as a dependency only when it was
  never linked (the child cannot exist without it). One whose link is deleted is not written:
  a flagged record is still there and the child points at it; a deleted one stays deleted
  and the child says how to bring it back;
- with real time on, a parent whose link is deleted (deleted or flagged in Salesforce) is
  written again, un-flagged if it is active;
- an inactive parent is written with its mapping's delete flag set; under `on_delete: delete`
  it is not written and the child waits for a person.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import select

from .. import mapping, realtime
from ..extensions import db
from ..models import EventStatus, ObjectMapping, RecordLink
from . import links
from .outcomes import Outcome
from .policy import delete_policy

if TYPE_CHECKING:
    from ..connectors.quickbooks import QuickBooksClient
    from ..models import Company

MAX_PARENT_DEPTH = 3
DIRECTION = "quickbooks_to_salesforce"


class ParentSync:
    """Mixed into the QuickBooks -> Salesforce run, whose push() and outcomes it uses."""

    company: Company
    qbo: QuickBooksClient
    # (mapping id, QuickBooks id) -> the Salesforce id written for it in this run
    written: dict[tuple[int, str], str]
    # (mapping name, QuickBooks id) -> why that parent cannot be referenced, for its children
    parent_problems: dict[tuple[str, str], Outcome]
    outcomes: dict[tuple[str, str], list[Outcome]]

    def _resolve_references(self, spec: dict, records: list[dict], depth: int) -> dict:
        """Salesforce ids for every lookup of these records, keyed (mapping name, id)."""
        needed: dict[str, set[str]] = defaultdict(set)
        for record in records:
            for reference in mapping.references(record, spec, DIRECTION):
                needed[reference.mapping_name].add(str(reference.source_id))
        resolved: dict[tuple[str, str], str] = {}
        for name, ids in needed.items():
            parent = db.session.execute(
                select(ObjectMapping).where(ObjectMapping.name == name)
            ).scalar_one_or_none()
            if parent is None:
                continue  # reported by the mapping as unresolved
            for qbo_id, sf_id in self._parents(parent, ids, depth).items():
                resolved[(name, qbo_id)] = sf_id
        return resolved

    def _parents(self, parent: ObjectMapping, ids: set[str], depth: int) -> dict[str, str]:
        """QuickBooks id -> Salesforce id for these parents of one mapping; the reason for
        each one that cannot be referenced goes to parent_problems."""
        existing = self._links(parent, ids)
        # A customer merged away stands for its survivor.
        target = {i: (existing[i].merged_into if i in existing else None) or i for i in ids}
        existing.update(self._links(parent, set(target.values()) - existing.keys()))
        resolved = {}
        for qbo_id, stands_for in target.items():
            link = existing.get(stands_for)
            if link is not None and link.salesforce_id and not link.deleted:
                resolved[qbo_id] = link.salesforce_id
        missing = {target[i] for i in ids - resolved.keys()}
        to_write, kept = self._parents_to_write(parent, missing, existing)
        if to_write and depth < MAX_PARENT_DEPTH:
            records = self.qbo.query_by_ids(parent.quickbooks_type, sorted(to_write))
            for gone in sorted(to_write - {r["Id"] for r in records}):
                self._parent_problem(parent, gone, "was not found in QuickBooks", retryable=False)
            self.push(parent, records, depth + 1)
            for qbo_id in to_write:
                failure = self._failed_write(parent, qbo_id)
                if failure is not None:
                    self._parent_problem(
                        parent, qbo_id, f"could not be synced: {failure.reason}", failure.retryable
                    )
        for qbo_id, stands_for in target.items():
            if qbo_id in resolved:
                continue
            if (parent.id, stands_for) in self.written:
                resolved[qbo_id] = self.written[(parent.id, stands_for)]
            elif stands_for in kept:
                resolved[qbo_id] = kept[stands_for]
            elif stands_for != qbo_id and (parent.name, stands_for) in self.parent_problems:
                self.parent_problems[(parent.name, qbo_id)] = self.parent_problems[
                    (parent.name, stands_for)
                ]
        return resolved

    def _parents_to_write(
        self, parent: ObjectMapping, missing: set[str], existing: dict[str, RecordLink]
    ) -> tuple[set[str], dict[str, str]]:
        """The missing parents this run may write, by the parent mapping's own rules, and those
        it keeps as they are in Salesforce (QuickBooks id -> Salesforce id)."""
        if not parent.flows_to_salesforce():
            for qbo_id in missing:
                self._parent_problem(
                    parent,
                    qbo_id,
                    f"is not synced to Salesforce: mapping '{parent.name}' flows "
                    f"{parent.direction}",
                    retryable=True,  # the other direction may link it
                )
            return set(), {}
        if not realtime.applies_to(parent, self.company):
            for qbo_id in missing:
                self._parent_problem(
                    parent,
                    qbo_id,
                    f"is not synced to Salesforce: mapping '{parent.name}' does not apply to "
                    f"company {self.company.realm_id}",
                    retryable=False,
                )
            return set(), {}
        if realtime.is_enabled(parent, self.company):
            return missing, {}
        relinks = {i for i in missing if i in existing and existing[i].salesforce_id}
        if delete_policy(parent.spec)[0] == "flag":
            # Flagged, not deleted: the record is still there for the child to point at.
            return missing - relinks, {i: existing[i].salesforce_id for i in relinks}
        for qbo_id in relinks:
            self._parent_problem(
                parent,
                qbo_id,
                f"is deleted in Salesforce and real time is off for mapping '{parent.name}' "
                f"(a parent is written as a dependency only when it was never linked): "
                f"switch real time on, or run flask sync run {parent.name}",
                retryable=True,
            )
        return missing - relinks, {}

    def _links(self, parent: ObjectMapping, ids: set[str]) -> dict[str, RecordLink]:
        return links.find(parent.id, self.company.id, ids)

    def _failed_write(self, parent: ObjectMapping, qbo_id: str) -> Outcome | None:
        if (parent.id, qbo_id) in self.written:
            return None
        failed = [
            o
            for o in self.outcomes.get((parent.quickbooks_type, qbo_id), [])
            if o.status == EventStatus.FAILED
        ]
        return failed[-1] if failed else None

    def _parent_problem(
        self, parent: ObjectMapping, qbo_id: str, what: str, retryable: bool
    ) -> None:
        self.parent_problems[(parent.name, qbo_id)] = Outcome(
            EventStatus.FAILED, f"parent {parent.quickbooks_type} {qbo_id} {what}", retryable
        )

    def _unresolved(self, exc: mapping.UnresolvedReference) -> Outcome:
        """The outcome of a child whose parents could not be referenced: each parent's own
        reason when we know it, else "not synced yet", worth another try once it is."""
        reasons, retryable = [], True
        for ref in exc.references:
            problem = self.parent_problems.get((ref.mapping_name, str(ref.source_id)))
            if problem is None:
                reasons.append(f"parent not synced yet: {mapping.UnresolvedReference([ref])}")
            else:
                reasons.append(problem.reason)
                retryable = retryable and problem.retryable
        return Outcome(EventStatus.FAILED, "; ".join(reasons), retryable)
