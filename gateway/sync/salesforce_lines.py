"""Writing a QuickBooks parent's item lines to Salesforce as child records (QuickBooks ->
Salesforce): one upsert by external id for every line of the batch, and one delete for the
child records whose QuickBooks line is gone."""

from __future__ import annotations

from simple_salesforce.format import format_soql

from ..connectors.salesforce import SalesforceClient, record_error
from ..mapping.lines import LineMapping, parse_line_external_id
from .lines import MAX_IDS_PER_QUERY


class SalesforceLineWrites:
    def __init__(self, sf: SalesforceClient, lines: LineMapping):
        self.sf = sf
        self.lines = lines
        self.rows: dict[str, list[dict]] = {}  # QuickBooks parent id -> its line payloads

    def add(self, quickbooks_id: str, rows: list[dict]) -> None:
        self.rows[quickbooks_id] = rows

    def write(self, parents: dict[str, str]) -> dict[str, str]:
        """Write the lines of these parents (QuickBooks id -> Salesforce id); returns the
        parents whose lines failed, with why."""
        lines = self.lines
        parents = {qbo_id: sf_id for qbo_id, sf_id in parents.items() if qbo_id in self.rows}
        if not parents:
            return {}
        errors: dict[str, str] = {}
        owners: list[str] = []
        rows: list[dict] = []
        for qbo_id, sf_id in parents.items():
            for row in self.rows[qbo_id]:
                rows.append({**row, lines.parent_field: sf_id})
                owners.append(qbo_id)
        if rows:
            results = self.sf.upsert_many(lines.sobject, lines.external_id, rows)
            for qbo_id, result in zip(owners, results, strict=True):
                if not result.get("success"):
                    errors[qbo_id] = f"{lines.sobject}: {record_error(result)[0]}"
        gone = self._removed(parents)
        if gone:
            for sf_id, result in zip(gone, self.sf.delete_many(list(gone)), strict=True):
                codes = {e.get("statusCode") for e in result.get("errors") or []}
                if not result.get("success") and "ENTITY_IS_DELETED" not in codes:
                    errors[gone[sf_id]] = f"{lines.sobject}: {record_error(result)[0]}"
        return errors

    def _removed(self, parents: dict[str, str]) -> dict[str, str]:
        """Child record id -> QuickBooks parent id, for children linked to a line that the
        parent no longer has. Children without our external id (added in Salesforce and not
        synced yet) are left alone."""
        lines = self.lines
        wanted = {row[lines.external_id] for qbo_id in parents for row in self.rows[qbo_id]}
        by_salesforce = {sf_id: qbo_id for qbo_id, sf_id in parents.items()}
        ids = sorted(by_salesforce)
        gone: dict[str, str] = {}
        for start in range(0, len(ids), MAX_IDS_PER_QUERY):
            # Names come from a validated mapping; ids went through format_soql.
            soql = format_soql(
                f"SELECT Id, {lines.parent_field}, {lines.external_id} FROM {lines.sobject} "  # noqa: S608
                f"WHERE {lines.parent_field} IN {{}}",
                ids[start : start + MAX_IDS_PER_QUERY],
            )
            for child in self.sf.query_all(soql):
                qbo_parent = by_salesforce.get(child[lines.parent_field])
                linked = parse_line_external_id(child.get(lines.external_id), lines.realm_id)
                if linked and linked[0] == qbo_parent and child[lines.external_id] not in wanted:
                    gone[child["Id"]] = qbo_parent
        return gone
