"""Find the Salesforce records that a not-yet-linked QuickBooks record may already have.

One SOQL query per chunk looks up both our external ids (a record we wrote before a crash
lost the link) and the mapping's match fields (a record a person made by hand).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simple_salesforce.format import format_soql

from ..connectors.salesforce import SalesforceClient

MAX_SOQL_CHARS = 12_000  # stays well inside URL limits for a GET query


def _matches_all(row: dict, criteria: Sequence[tuple[str, Any]]) -> bool:
    return all(str(row.get(field) or "").lower() == str(value).lower() for field, value in criteria)


def find_matches(
    sf: SalesforceClient,
    sobject: str,
    ext_field: str,
    wanted: list[tuple[str, str, list[tuple[str, Any]]]],
) -> dict[str, list[str]]:
    """For each (qbo id, external id, match criteria): the Salesforce ids it should become.

    A record already carrying our external id is ours (the upsert will find it): no match is
    reported for it. Otherwise every record meeting all criteria and not linked elsewhere is a
    candidate; exactly one means adopt it, several mean a person must decide.
    """
    fields = sorted({field for _, _, criteria in wanted for field, _ in criteria} | {ext_field})
    rows: list[dict] = []
    for chunk in _chunks_by_size(wanted):
        clauses = [format_soql(f"{ext_field} IN {{}}", [ext for _, ext, _ in chunk])]
        by_field: dict[str, set] = {}
        for _, _, criteria in chunk:
            for field, value in criteria:
                by_field.setdefault(field, set()).add(value)
        clauses += [
            format_soql(f"{field} IN {{}}", sorted(values, key=str))
            for field, values in sorted(by_field.items())
        ]
        # Object and field names come from a validated mapping; values went through format_soql.
        soql = f"SELECT Id, {', '.join(fields)} FROM {sobject} WHERE " + " OR ".join(clauses)  # noqa: S608
        rows.extend(sf.query_all(soql))
    ours = {row.get(ext_field) for row in rows if row.get(ext_field)}
    found: dict[str, list[str]] = {}
    for qbo_id, ext, criteria in wanted:
        if ext in ours or not criteria:
            continue
        found[qbo_id] = sorted(
            row["Id"] for row in rows if not row.get(ext_field) and _matches_all(row, criteria)
        )
    return found


def _chunks_by_size(wanted: list) -> list[list]:
    chunks, current, size = [], [], 0
    for item in wanted:
        cost = len(item[1]) + sum(len(str(v)) + len(f) + 6 for f, v in item[2]) + 6
        if current and size + cost > MAX_SOQL_CHARS:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += cost
    if current:
        chunks.append(current)
    return chunks
