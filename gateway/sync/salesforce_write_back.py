"""After a QuickBooks write: link, and give Salesforce the company-qualified QuickBooks id and
what QuickBooks worked out itself, in one collection call for the batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import mapping
from ..connectors.salesforce import SalesforceClient, record_error
from ..mapping.lines import LineMapping
from ..mapping.projection import (
    recorded_quickbooks_hash,
    salesforce_content_hash,
    salesforce_differences,
)
from ..models import Company, EventStatus, ObjectMapping
from . import check_lock_held, links
from .policy import delete_policy
from .to_salesforce import external_id

if TYPE_CHECKING:
    from .to_quickbooks import Planned


class SalesforceWriteBack:
    """Mixed into the Salesforce -> QuickBooks run, whose outcomes and links it records."""

    company: Company
    sf: SalesforceClient
    link_writes: links.LinkWrites

    def _write_back(
        self,
        spec_row: ObjectMapping,
        written: list[tuple[Planned, dict, dict]],
        resolved: dict,
        field_types: dict,
    ) -> None:
        """Link, and give Salesforce the company-qualified QuickBooks id and whatever QuickBooks
        worked out itself (a balance, a total) in one collection call, so neither platform's
        echo of these writes leads to another write."""
        if not written:
            return
        spec = spec_row.spec
        backwards = {(name, qbo): sf for (name, sf), qbo in resolved.items()}
        lines = self._lines(spec)
        rows: list[dict] = []
        saved: dict[str, dict] = {}
        for plan, result, info in written:
            qbo_id = result["Id"]
            sf_id = plan.record["Id"]
            change, salesforce_hash = self._salesforce_change(
                spec, plan.record, result, backwards, field_types
            )
            saved[sf_id] = {
                "quickbooks_id": qbo_id,
                "values": {
                    "salesforce_id": sf_id,
                    "quickbooks_hash": recorded_quickbooks_hash(result, spec, lines),
                    "quickbooks_sync_token": result.get("SyncToken"),
                    "salesforce_hash": salesforce_hash,
                    "deleted": False,
                    "merged_into": None,
                },
                "reason": f"{info['how']} {spec['quickbooks']} {qbo_id}",
            }
            if lines is not None:
                rows += lines.external_id_write_backs(plan.record, result)
            if change:
                rows.append({"attributes": {"type": spec["salesforce"]}, "Id": sf_id, **change})
        failed: dict[str, str] = {}
        if rows:
            check_lock_held()
            results = self.sf.update_records(rows)
            for row, result in zip(rows, results, strict=True):
                if not result.get("success") and row["attributes"]["type"] == spec["salesforce"]:
                    failed[row["Id"]] = record_error(result)[0]
        for sf_id, entry in saved.items():
            values = dict(entry["values"])
            if sf_id in failed:
                # QuickBooks has the change; only the write-back is missing, so the retry must
                # not find everything "unchanged".
                values["quickbooks_hash"] = None
                self._outcome(
                    spec,
                    sf_id,
                    EventStatus.FAILED,
                    f"{entry['reason']}; writing the QuickBooks id back failed: {failed[sf_id]}",
                    True,
                )
            else:
                self._outcome(spec, sf_id, EventStatus.SYNCED, entry["reason"])
            self.link_writes.save(spec_row.id, self.company.id, entry["quickbooks_id"], **values)
        self.link_writes.flush()

    def _salesforce_change(
        self, spec: dict, record: dict, written: dict, backwards: dict, field_types: dict
    ) -> tuple[dict, str | None]:
        """What the Salesforce `record` lacks of the QuickBooks record `written` (its
        company-qualified id, and the values QuickBooks worked out when the mapping flows both
        ways), and the hash QuickBooks -> Salesforce will compute for the echo of the write."""
        change: dict = {}
        salesforce_hash = None
        lines = self._lines(spec)
        if spec["direction"] == "both":
            try:
                sf_payload = mapping.to_salesforce(written, spec, backwards, field_types)
            except mapping.MappingError:
                sf_payload = None
            if sf_payload is not None:
                _, flag_field = delete_policy(spec)
                if flag_field:
                    sf_payload[flag_field] = False
                salesforce_hash = self._salesforce_hash(sf_payload, written, lines, backwards)
                # Constants are for records QuickBooks makes; one made in Salesforce keeps its
                # own value (a Prospecting stage stays Prospecting).
                skip = {
                    rule["salesforce"]
                    for rule in spec["fields"]
                    if "quickbooks" not in rule and "salesforce" in rule
                }
                if lines is not None and lines.items_of(record):
                    # Salesforce rolls an Opportunity's Amount up from its products and refuses
                    # it as input then: the invoice total is not written back.
                    skip |= {
                        rule["salesforce"]
                        for rule in spec["fields"]
                        if rule.get("quickbooks") == "TotalAmt" and "salesforce" in rule
                    }
                computed = {k: v for k, v in sf_payload.items() if k not in skip}
                change = salesforce_differences(computed, record)
        ext = external_id(self.company.realm_id, written["Id"])
        if record.get(spec["external_id"]) != ext:
            change[spec["external_id"]] = ext
        return change, salesforce_hash

    def _salesforce_hash(
        self, sf_payload: dict, written: dict, lines: LineMapping | None, backwards: dict
    ) -> str | None:
        """What QuickBooks -> Salesforce will compute for the echo of this write."""
        if lines is None:
            return salesforce_content_hash(sf_payload, None)
        try:
            rows = lines.to_salesforce(written, backwards, self.sf.field_types(lines.sobject))
        except mapping.MappingError:
            return None
        return salesforce_content_hash(sf_payload, rows)
