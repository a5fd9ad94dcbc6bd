"""Records already in step, though their link cannot tell.

A direction knows a record is unchanged by the hash its link keeps of what the other side
holds. A link made while the mapping flowed the other way only has no such hash (that
direction had no reason to keep it), so once the mapping flows both ways the first write of
every record would be an update changing nothing, whose echo then comes back. Such a record is
compared with what the other side holds now instead, read once for the batch; when they agree
it is unchanged, and the hash is kept on the link so later runs need not read again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..connectors.quickbooks import QuickBooksClient
from ..connectors.salesforce import SalesforceClient
from ..mapping.lines import LineMapping
from ..mapping.projection import (
    recorded_quickbooks_hash,
    salesforce_differences,
    salesforce_fields,
)
from ..models import Company, EventStatus, ObjectMapping, RecordLink
from . import links
from .lines import records_by_ids
from .policy import delete_policy

if TYPE_CHECKING:
    from .to_quickbooks import Planned


def salesforce_in_step(now: dict | None, payload: dict, ext_field: str, ext_id: str) -> bool:
    """Salesforce holds what an upsert of `payload` by our external id would write."""
    return now is not None and not salesforce_differences({**payload, ext_field: ext_id}, now)


def unhashed(link: RecordLink | None, hash_column: str) -> bool:
    """A live link without the hash of the other direction's content."""
    return link is not None and not link.deleted and not getattr(link, hash_column)


class QuickBooksInStep:
    """Mixed into the Salesforce -> QuickBooks run (with SalesforceWriteBack)."""

    company: Company
    qbo: QuickBooksClient
    link_writes: links.LinkWrites

    def _drop_in_step(
        self,
        spec_row: ObjectMapping,
        planned: list[Planned],
        lines: LineMapping | None,
        resolved: dict,
        field_types: dict,
    ) -> list[Planned]:
        """The plans left to write once those QuickBooks already holds are taken out; the
        others read keep the version read, so their update needs no second read.

        In step means nothing to write on either side: a link whose write-back to Salesforce
        failed has no QuickBooks hash either, and its retry must still write the id back.
        """
        spec = spec_row.spec
        ids = {
            p.quickbooks_id
            for p in planned
            if p.quickbooks_id and unhashed(p.link, "quickbooks_hash")
        }
        if not ids:
            return planned
        found = {r["Id"]: r for r in self.qbo.query_by_ids(spec["quickbooks"], sorted(ids))}
        backwards = {(name, qbo): sf for (name, sf), qbo in resolved.items()}
        kept: list[Planned] = []
        for plan in planned:
            current = found.get(plan.quickbooks_id) if plan.quickbooks_id in ids else None
            if current is None:
                kept.append(plan)
                continue
            same = recorded_quickbooks_hash(current, spec, lines) == plan.digest
            if same:
                change, _ = self._salesforce_change(
                    spec, plan.record, current, backwards, field_types
                )
                same = not change and not (
                    lines and lines.external_id_write_backs(plan.record, current)
                )
            if not same:
                plan.current = current
                kept.append(plan)
                continue
            self._outcome(spec, plan.record["Id"], EventStatus.SKIPPED, "unchanged")
            self.link_writes.save(
                spec_row.id,
                self.company.id,
                plan.quickbooks_id,
                quickbooks_hash=plan.digest,
                quickbooks_sync_token=current.get("SyncToken"),
            )
        return kept


def salesforce_now(
    sf: SalesforceClient, spec: dict, links_by_id: dict[str, RecordLink], lines: LineMapping | None
) -> dict[str, dict]:
    """Salesforce id -> the Salesforce record as it is now (with our external id), for the
    linked records whose link has no Salesforce hash. A mapping with line items is left out:
    its child records would have to be compared too, and it is written as before."""
    if lines is not None:
        return {}
    ids = sorted(
        link.salesforce_id
        for link in links_by_id.values()
        if link.salesforce_id and unhashed(link, "salesforce_hash")
    )
    if not ids:
        return {}
    _, flag_field = delete_policy(spec)
    names = {"Id", spec["external_id"], *salesforce_fields(spec), *filter(None, [flag_field])}
    fields = ", ".join(sorted(names))
    return {r["Id"]: r for r in records_by_ids(sf, spec["salesforce"], fields, ids)}
