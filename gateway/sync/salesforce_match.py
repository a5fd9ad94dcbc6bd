"""Find the Salesforce records that a not-yet-linked QuickBooks record may already have.

The queries look up both our external ids (a record we wrote before a crash lost the link) and
the mapping's match fields (a record a person made by hand). A page of 1,000 records needs a
few of them, each kept under the REST URI limit; they go together in /composite calls, 5
queries to one API call, so a page costs one matching call instead of one per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

from simple_salesforce.format import format_soql

from ..connectors.salesforce import SalesforceClient, query_url

# Neither limit is confirmed by our reference, so a query respects both: Salesforce's default
# SOQL statement limit (100,000 characters) and the REST URI limit (16,384 bytes), less room
# for the version and the rest of the URL. The second is the one that binds.
MAX_SOQL_CHARS = 100_000
MAX_QUERY_URL = 16_000
URL_BASE = "/services/data/vNN.N/"  # as long as any version's, for measuring
HEADROOM = 400  # the SELECT, the field names and " OR " between the IN lists, encoded

Wanted = tuple[str, str, list[tuple[str, Any]]]  # qbo id, our external id, match criteria


def _matches_all(row: dict, criteria: Sequence[tuple[str, Any]]) -> bool:
    return all(str(row.get(field) or "").lower() == str(value).lower() for field, value in criteria)


def find_matches(
    sf: SalesforceClient, sobject: str, ext_field: str, wanted: list[Wanted]
) -> dict[str, list[str]]:
    """For each (qbo id, external id, match criteria): the Salesforce ids it should become.

    A record already carrying our external id is ours (the upsert will find it): no match is
    reported for it. Otherwise every record meeting all criteria and not linked elsewhere is a
    candidate; exactly one means adopt it, several mean a person must decide. A record with no
    criteria (say, no email) can match nothing, so it is not asked about.
    """
    asked = [item for item in wanted if item[2]]
    if not asked:
        return {}
    fields = sorted({field for _, _, criteria in asked for field, _ in criteria} | {ext_field})
    soqls = [
        soql
        for chunk in _chunks_by_size(asked)
        for soql in _fitting(sobject, fields, ext_field, chunk)
    ]
    rows = sf.query_each(soqls)
    ours = {row.get(ext_field) for row in rows if row.get(ext_field)}
    found: dict[str, list[str]] = {}
    for qbo_id, ext, criteria in asked:
        if ext in ours:
            continue
        found[qbo_id] = sorted(
            row["Id"] for row in rows if not row.get(ext_field) and _matches_all(row, criteria)
        )
    return found


def _soql(sobject: str, fields: list[str], ext_field: str, chunk: list[Wanted]) -> str:
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
    return f"SELECT Id, {', '.join(fields)} FROM {sobject} WHERE " + " OR ".join(clauses)  # noqa: S608


def _fits(soql: str) -> bool:
    return len(soql) <= MAX_SOQL_CHARS and len(query_url(URL_BASE, soql)) <= MAX_QUERY_URL


def _fitting(sobject: str, fields: list[str], ext_field: str, chunk: list[Wanted]) -> list[str]:
    """The chunk's query, or its halves' if the estimate let it grow past a limit."""
    soql = _soql(sobject, fields, ext_field, chunk)
    if _fits(soql) or len(chunk) == 1:
        return [soql]
    half = len(chunk) // 2
    return _fitting(sobject, fields, ext_field, chunk[:half]) + _fitting(
        sobject, fields, ext_field, chunk[half:]
    )


def _cost(value: Any) -> int:
    """Encoded length of one value in an IN list: quoted, escaped, and a comma after it."""
    return len(quote_plus(format_soql("{}", value))) + 3


def _chunks_by_size(wanted: list[Wanted]) -> list[list[Wanted]]:
    budget = MAX_QUERY_URL - len(URL_BASE) - HEADROOM
    chunks: list[list[Wanted]] = []
    current: list[Wanted] = []
    size = 0
    for item in wanted:
        cost = _cost(item[1]) + sum(_cost(value) for _, value in item[2])
        if current and size + cost > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(item)
        size += cost
    if current:
        chunks.append(current)
    return chunks
