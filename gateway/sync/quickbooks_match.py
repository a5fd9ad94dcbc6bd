"""Salesforce -> QuickBooks: find the QuickBooks record a not-yet-linked Salesforce record may
already have, before creating one.

Real time honours only what a person decided on the review list (a record still under review
waits); a batch run (match_before_create) also matches a whole page with the mapping's `match`
rules and, for name-list entities, by name. Exactly one candidate that nothing else claims is
adopted; several, or one claimed by another Salesforce record, go to the review list.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import mapping
from ..batch import review
from ..connectors.quickbooks import (
    MAX_QUERY_RESULTS,
    QuickBooksClient,
    QuickBooksError,
    query_records,
    quote,
)
from ..mapping import SALESFORCE_TO_QUICKBOOKS as DIRECTION
from ..models import CREATE_NEW, Company, EventStatus, ObjectMapping, ReviewStatus
from ..qbo_entities import NAME_LIST_ENTITIES
from . import links
from .adoption import adoption_lock
from .outcomes import ambiguous
from .quickbooks_duplicates import NAME_FIELDS

if TYPE_CHECKING:
    from .to_quickbooks import Planned

log = logging.getLogger(__name__)
# Values per IN list: a QuickBooks query statement is sent in a POST body, but stays modest.
MAX_IN_VALUES = 200


def name_field(entity: str) -> str | None:
    """The field that names a name-list record (unique in QuickBooks); None for transactions."""
    return NAME_FIELDS.get(entity, "Name") if entity in NAME_LIST_ENTITIES else None


def _same(a: Any, b: Any) -> bool:
    return str(a if a is not None else "").strip().lower() == str(b).strip().lower()


class QuickBooksFinder:
    """The QuickBooks records having any of some values in a field, in few queries (IN lists
    of up to MAX_IN_VALUES). A field QuickBooks will not filter on (a 400: the query language
    does not document which aggregate paths are queryable) is remembered and skipped; matching
    then compares it in Python on what the other fields found."""

    def __init__(self, qbo: QuickBooksClient):
        self.qbo = qbo
        self.unfilterable: set[tuple[str, str]] = set()

    def having(self, entity: str, field: str, values: Iterable[str]) -> list[dict]:
        wanted = sorted({str(v) for v in values if v not in (None, "")})
        if not wanted or (entity, field) in self.unfilterable:
            return []
        found: list[dict] = []
        for start in range(0, len(wanted), MAX_IN_VALUES):
            chunk = wanted[start : start + MAX_IN_VALUES]
            try:
                found += self._all_pages(entity, field, chunk)
            except QuickBooksError as exc:
                if exc.retryable or exc.status != 400:
                    raise
                log.warning("QuickBooks cannot filter %s on %s (%s)", entity, field, exc)
                self.unfilterable.add((entity, field))
                return found
        return found

    def _all_pages(self, entity: str, field: str, values: list[str]) -> list[dict]:
        records: list[dict] = []
        position = 1
        while True:
            # The entity and field come from a validated mapping; every value went through quote().
            statement = (
                f"SELECT * FROM {entity} WHERE {field} IN "  # noqa: S608
                f"({', '.join(quote(v) for v in values)}) "
                f"STARTPOSITION {position} MAXRESULTS {MAX_QUERY_RESULTS}"
            )
            page = query_records(self.qbo.query(statement), entity)
            records += page
            if len(page) < MAX_QUERY_RESULTS:
                return records
            position += MAX_QUERY_RESULTS


class QuickBooksMatching:
    """Mixed into the Salesforce -> QuickBooks run."""

    company: Company
    qbo: QuickBooksClient
    # a batch run matches before it creates; real time only honours the review list
    match_before_create = False

    @contextmanager
    def _adopting(self, spec_row: ObjectMapping, planned: list[Planned]) -> Iterator[None]:
        """One run at a time matches and adopts records of this QuickBooks entity, from the
        match query to the link: the next one then finds the record linked (claimed), so two
        runs never adopt the same QuickBooks record."""
        if not self.match_before_create or all(p.link or p.quickbooks_id for p in planned):
            yield
            return
        entity = spec_row.spec["quickbooks"]
        with adoption_lock(f"adopt-quickbooks:{self.company.realm_id}:{entity}", entity):
            yield

    def _match_unlinked(self, spec_row: ObjectMapping, planned: list[Planned]) -> list[Planned]:
        """The plans to write: a new record becomes an update of the QuickBooks record it was
        matched with (or a person picked), and one left for a person is taken out."""
        new = {p.record["Id"]: p for p in planned if p.link is None and p.quickbooks_id is None}
        if not new:
            return planned
        spec = spec_row.spec
        items = review.salesforce_items(spec_row.id, self.company.id, new)
        held: set[str] = set()
        unmatched: list[Planned] = []
        for sf_id, plan in new.items():
            item = items.get(sf_id)
            if item is not None and item.status == ReviewStatus.RESOLVED:
                if item.decision != CREATE_NEW:
                    plan.quickbooks_id = item.decision
            elif item is not None and not self.match_before_create:
                held.add(sf_id)
                self._outcome(
                    spec, sf_id, EventStatus.SKIPPED, "waiting on the review list (/admin/runs)"
                )
            else:
                unmatched.append(plan)
        if self.match_before_create and unmatched:
            held |= self._match(spec_row, unmatched)
        return [p for p in planned if p.record["Id"] not in held]

    def _match(self, spec_row: ObjectMapping, plans: list[Planned]) -> set[str]:
        """Match `plans` against QuickBooks; returns the Salesforce ids left for review."""
        spec = spec_row.spec
        entity = spec["quickbooks"]
        named = name_field(entity)
        wanted = {
            p.record["Id"]: (
                mapping.match_criteria(p.record, spec, DIRECTION),
                mapping.get_path(p.payload, named) if named else None,
            )
            for p in plans
        }
        finder = self._finder()
        rows: dict[str, dict] = {}
        by_path: dict[str, set[str]] = {}
        for criteria, _ in wanted.values():
            for path, value in criteria:
                by_path.setdefault(path, set()).add(str(value))
        if named:
            by_path.setdefault(named, set()).update(
                str(name) for _, name in wanted.values() if name
            )
        for path, values in sorted(by_path.items()):
            rows.update((r["Id"], r) for r in finder.having(entity, path, values))
        candidates: dict[str, list[str]] = {}
        for sf_id, (criteria, name) in wanted.items():
            found = {
                qbo_id
                for qbo_id, row in rows.items()
                if (criteria and all(_same(mapping.get_path(row, p), v) for p, v in criteria))
                or (name and _same(row.get(named), name))
            }
            candidates[sf_id] = sorted(found, key=lambda i: (len(i), i))
        claimed = links.find(
            spec_row.id, self.company.id, {i for ids in candidates.values() for i in ids}
        )
        adopted: dict[str, str] = {}  # QuickBooks id -> the Salesforce record adopting it now
        held: set[str] = set()
        for plan in plans:
            sf_id = plan.record["Id"]
            found = candidates[sf_id]
            if len(found) > 1:
                what = f"{len(found)} {entity} records match ({', '.join(found)})"
            elif found and found[0] in adopted:
                what = f"{entity} {found[0]} also matches Salesforce {adopted[found[0]]}"
            elif found and self._claimed_elsewhere(claimed.get(found[0]), sf_id):
                other = claimed[found[0]].salesforce_id
                what = f"{entity} {found[0]} matches but is already linked to Salesforce {other}"
            else:
                if found:
                    adopted[found[0]] = sf_id
                    plan.quickbooks_id, plan.current = found[0], rows[found[0]]
                continue
            held.add(sf_id)
            self._outcome_review(spec_row, sf_id, what, found)
        return held

    @staticmethod
    def _claimed_elsewhere(link, sf_id: str) -> bool:
        return (
            link is not None
            and bool(link.salesforce_id)
            and link.salesforce_id != sf_id
            and not link.deleted
        )

    def _finder(self) -> QuickBooksFinder:
        finder = getattr(self, "_quickbooks_finder", None)
        if finder is None or finder.qbo is not self.qbo:
            finder = self._quickbooks_finder = QuickBooksFinder(self.qbo)
        return finder

    def _outcome_review(
        self, spec_row: ObjectMapping, sf_id: str, why: str, candidates: list[str]
    ) -> None:
        spec = spec_row.spec
        self.outcomes[(spec["salesforce"], sf_id)].append(ambiguous(why))
        self.needs_review(spec_row, sf_id, why, candidates)

    def needs_review(
        self, spec_row: ObjectMapping, sf_id: str, why: str, candidates: list[str]
    ) -> None:
        review.flag_salesforce(spec_row.id, self.company.id, sf_id, why, candidates)
