"""Reading Salesforce records by id, and line items: every parent's child records in one more
SOQL query per batch."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from simple_salesforce.format import format_soql

from ..connectors.salesforce import SalesforceClient
from ..mapping.lines import ITEMS_KEY, LineMapping

MAX_IDS_PER_QUERY = 300  # keeps a SOQL GET well inside URL limits


def records_by_ids(sf: SalesforceClient, sobject: str, fields: str, ids: list[str]) -> list[dict]:
    """These records with these fields (a SOQL field list), in one query per few hundred ids."""
    records: list[dict] = []
    for start in range(0, len(ids), MAX_IDS_PER_QUERY):
        # Object and field names come from a validated mapping; ids went through format_soql.
        soql = format_soql(
            f"SELECT {fields} FROM {sobject} WHERE Id IN {{}}",  # noqa: S608
            ids[start : start + MAX_IDS_PER_QUERY],
        )
        records.extend(sf.query_all(soql))
    return records


def line_mapping(spec: dict[str, Any], realm_id: str) -> LineMapping | None:
    lines = spec.get("lines")
    if not lines:
        return None
    return LineMapping(lines, spec.get("direction", "both"), realm_id)


def attach_line_items(sf: SalesforceClient, lines: LineMapping, records: list[dict]) -> None:
    """Put each record's child records under ITEMS_KEY, oldest first (the order they were
    added, which is the order their QuickBooks lines are in)."""
    by_parent: dict[str, list[dict]] = defaultdict(list)
    ids = [record["Id"] for record in records]
    for start in range(0, len(ids), MAX_IDS_PER_QUERY):
        chunk = ids[start : start + MAX_IDS_PER_QUERY]
        # Object and field names come from a validated mapping; ids went through format_soql.
        soql = format_soql(
            f"SELECT {', '.join(lines.salesforce_fields())} FROM {lines.sobject} "  # noqa: S608
            f"WHERE {lines.parent_field} IN {{}} ORDER BY CreatedDate, Id",
            chunk,
        )
        for item in sf.query_all(soql):
            by_parent[item[lines.parent_field]].append(item)
    for record in records:
        record[ITEMS_KEY] = by_parent.get(record["Id"], [])
