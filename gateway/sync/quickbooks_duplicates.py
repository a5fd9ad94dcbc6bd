"""6240 on create: the name is taken in QuickBooks. The record is found by the mapping's match
rules, or by its name, and linked (and updated) instead of created again; a record already
linked to another Salesforce record is left for a person."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import mapping
from ..connectors.quickbooks import QuickBooksClient, QuickBooksError, quote
from ..connectors.quickbooks_writes import DuplicateName, QuickBooksWrites
from ..mapping import SALESFORCE_TO_QUICKBOOKS as DIRECTION
from ..models import Company
from . import check_lock_held, links

if TYPE_CHECKING:
    from .to_quickbooks import Planned

# The field QuickBooks keeps a name-list record's unique name in (6240 when it is taken).
NAME_FIELDS = {"Customer": "DisplayName", "Vendor": "DisplayName", "Employee": "DisplayName"}


class DuplicateNames:
    """Mixed into the Salesforce -> QuickBooks run."""

    company: Company
    qbo: QuickBooksClient
    writes: QuickBooksWrites
    mapping_ids: dict[str, int]

    def _adopt_duplicate(
        self, spec: dict, plan: Planned, error: DuplicateName
    ) -> dict | QuickBooksError:
        """6240 on create: the record exists in QuickBooks already. Find it by the mapping's
        match rules, or by its name, and link it; never create a second one."""
        entity = spec["quickbooks"]
        candidates = self._find_existing(spec, plan)
        if len(candidates) != 1:
            found = ", ".join(sorted(c["Id"] for c in candidates)) or "none found"
            return QuickBooksError(
                error.status,
                [
                    {
                        "code": "6240",
                        "message": "duplicate name",
                        "detail": f"{error}; {len(candidates)} candidate(s) ({found}): link one "
                        "by hand or tighten the match rules",
                    }
                ],
                error.intuit_tid,
            )
        existing = candidates[0]
        taken = links.find(self.mapping_ids[spec["name"]], self.company.id, [existing["Id"]])
        other = taken.get(existing["Id"])
        # Linked to this very record is fine: another job (an Opportunity's, writing its
        # Account first) created it a moment ago.
        elsewhere = other is not None and other.salesforce_id != plan.record["Id"]
        if elsewhere and other.salesforce_id and not other.deleted:
            detail = (
                f"{entity} {existing['Id']} has this name and is already linked to Salesforce "
                f"{other.salesforce_id}: merge the two Salesforce records or rename one"
            )
            return QuickBooksError(
                error.status,
                [{"code": "6240", "message": "duplicate name", "detail": detail}],
                error.intuit_tid,
            )
        key = f"{entity}:{existing['Id']}:{plan.digest}"
        check_lock_held()
        try:
            updated = self.writes.update(
                entity, existing["Id"], existing["SyncToken"], plan.payload, key
            )
        except QuickBooksError as exc:
            return exc
        plan.quickbooks_id = existing["Id"]
        return {**updated, "_adopted": True}

    def _find_existing(self, spec: dict, plan: Planned) -> list[dict]:
        entity = spec["quickbooks"]
        criteria = mapping.match_criteria(plan.record, spec, DIRECTION)
        name_field = NAME_FIELDS.get(entity, "Name")
        name = mapping.get_path(plan.payload, name_field)
        clauses = [f"{path} = {quote(str(value))}" for path, value in criteria if "." not in path]
        if not clauses and name:
            clauses = [f"{name_field} = {quote(str(name))}"]
        if not clauses:
            return []
        # The entity and paths come from a validated mapping; every value went through quote().
        statement = f"SELECT * FROM {entity} WHERE {' AND '.join(clauses)} MAXRESULTS 10"  # noqa: S608
        answer = self.qbo.query(statement)
        return answer.get("QueryResponse", {}).get(entity, [])
