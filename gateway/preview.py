"""What a mapping would write for one real record, without writing anything.

The admin's preview reads a record through the connectors' read calls (by id, or the first few
whose name contains a search text), maps it with the same pure functions the sync uses, and
returns both sides. Lookups resolve through the record links the sync has stored; a parent not
synced yet is shown as such instead of failing the preview.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simple_salesforce.format import format_soql
from sqlalchemy import select

from . import mapping, qbo_fields, salesforce_schema
from .connectors import ConnectorError
from .connectors.quickbooks import QuickBooksClient, query_records, quote
from .connectors.salesforce import SalesforceClient
from .extensions import db
from .mapping import QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from .models import Company, ObjectMapping, RecordLink, SalesforceOrg
from .sync_config import DEFAULT_EXTERNAL_ID

SEARCH_LIMIT = 10


class PreviewUnavailable(Exception):
    """The preview cannot run (nothing connected, nothing found); the message says why."""


@dataclass
class Preview:
    direction: str
    record_id: str | None = None
    source: dict[str, Any] | None = None
    payload: dict[str, Any] | None = None
    error: str | None = None
    candidates: list[tuple[str, str]] = field(default_factory=list)  # (id, name) from a search
    notes: list[str] = field(default_factory=list)


def _resolved(spec: dict, company: Company, direction: str, wanted: list) -> dict:
    """Translations for the lookups ``wanted`` (mapping.Reference) from the stored links."""
    resolved: dict[tuple[str, str], str] = {}
    by_name: dict[str, set[str]] = {}
    for reference in wanted:
        by_name.setdefault(reference.mapping_name, set()).add(reference.source_id)
    for name, ids in by_name.items():
        parent = db.session.execute(
            select(ObjectMapping).where(ObjectMapping.name == name)
        ).scalar_one_or_none()
        if parent is None:
            continue
        source_column = (
            RecordLink.quickbooks_id
            if direction == QUICKBOOKS_TO_SALESFORCE
            else RecordLink.salesforce_id
        )
        links = db.session.execute(
            select(RecordLink).where(
                RecordLink.mapping_id == parent.id,
                RecordLink.company_id == company.id,
                source_column.in_(ids),
                RecordLink.deleted.is_(False),
            )
        ).scalars()
        for link in links:
            if direction == QUICKBOOKS_TO_SALESFORCE and link.salesforce_id:
                resolved[(name, link.quickbooks_id)] = link.salesforce_id
            elif direction == SALESFORCE_TO_QUICKBOOKS and link.salesforce_id:
                resolved[(name, link.salesforce_id)] = link.quickbooks_id
    return resolved


def _map(spec: dict, record: dict, company: Company, direction: str, result: Preview) -> None:
    references = mapping.references(record, spec, direction)
    resolved: dict[tuple[str, str], Any] = _resolved(spec, company, direction, references)
    for reference in references:
        key = (reference.mapping_name, reference.source_id)
        if key not in resolved:
            resolved[key] = f"(not synced yet: {reference.mapping_name} {reference.source_id})"
            result.notes.append(
                f"{reference.field} refers to {reference.mapping_name} record "
                f"{reference.source_id}, which is not synced yet; the sync would sync it first"
            )
    try:
        field_types = SalesforceClient(_org()).field_types(spec["salesforce"])
        if direction == QUICKBOOKS_TO_SALESFORCE:
            payload = mapping.to_salesforce(record, spec, resolved, field_types)
            external_id = spec.get("external_id", DEFAULT_EXTERNAL_ID)
            payload[external_id] = f"{company.realm_id}-{record.get('Id')}"
        else:
            payload = mapping.to_quickbooks(record, spec, resolved, field_types)
    except mapping.MappingError as exc:
        result.error = f"this record would fail: {exc}"
        return
    result.payload = payload
    if spec.get("lines"):
        result.notes.append("line items are not part of the preview; the sync writes them")


def _org() -> SalesforceOrg:
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None:
        raise PreviewUnavailable("Salesforce is not connected: connect it on the Connections page")
    return org


def _from_quickbooks(spec: dict, company: Company, record_id: str, search: str) -> Preview:
    result = Preview(QUICKBOOKS_TO_SALESFORCE)
    entity = spec["quickbooks"]
    client = QuickBooksClient(company)
    if record_id:
        records = client.query_by_ids(entity, [record_id])
    else:
        name = qbo_fields.name_field(entity)
        pattern = quote(f"%{search}%")
        statement = f"SELECT * FROM {entity} WHERE {name} LIKE {pattern} MAXRESULTS {SEARCH_LIMIT}"  # noqa: S608
        records = query_records(client.query(statement), entity)
        if len(records) > 1:
            result.candidates = [(r["Id"], str(r.get(name) or r["Id"])) for r in records]
            return result
    if not records:
        raise PreviewUnavailable(
            f"no {entity} {record_id or f'named like {search!r}'} in {company.realm_id}"
        )
    result.source = mapping.clean_quickbooks_record(records[0])
    result.record_id = result.source.get("Id")
    _map(spec, result.source, company, QUICKBOOKS_TO_SALESFORCE, result)
    return result


def _from_salesforce(spec: dict, company: Company, record_id: str, search: str) -> Preview:
    result = Preview(SALESFORCE_TO_QUICKBOOKS)
    sobject = spec["salesforce"]
    described = salesforce_schema.fields(sobject)
    if described is None:
        raise PreviewUnavailable(f"the Salesforce org has no object {sobject}")
    wanted = {"Id"} | {"Name"} & described.keys()
    wanted |= {rule["salesforce"] for rule in spec.get("fields", ()) if "salesforce" in rule}
    columns = ", ".join(sorted(name for name in wanted if name in described))
    client = SalesforceClient(_org())
    # Object and column names come from the validated mapping and the describe; the values go
    # through format_soql's quoting.
    if record_id:
        soql = format_soql(f"SELECT {columns} FROM {sobject} WHERE Id = {{}}", record_id)  # noqa: S608
    else:
        soql = format_soql(
            f"SELECT {columns} FROM {sobject} WHERE Name LIKE '%{{:like}}%' LIMIT {SEARCH_LIMIT}",  # noqa: S608
            search,
        )
    records = [
        {key: value for key, value in record.items() if key != "attributes"}
        for record in client.query_all(soql)
    ]
    if len(records) > 1:
        result.candidates = [(r["Id"], str(r.get("Name") or r["Id"])) for r in records]
        return result
    if not records:
        raise PreviewUnavailable(f"no {sobject} {record_id or f'named like {search!r}'}")
    result.source = records[0]
    result.record_id = result.source["Id"]
    _map(spec, result.source, company, SALESFORCE_TO_QUICKBOOKS, result)
    return result


def preview(
    spec: dict, direction: str, company: Company | None, record_id: str, search: str
) -> Preview:
    """Read one record on the ``direction``'s source side and map it; raises PreviewUnavailable
    with what to do when it cannot."""
    if company is None:
        raise PreviewUnavailable("no QuickBooks company is connected (Connections page)")
    if not (record_id or search):
        raise PreviewUnavailable("give a record id or a name to search for")
    try:
        if direction == QUICKBOOKS_TO_SALESFORCE:
            return _from_quickbooks(spec, company, record_id, search)
        return _from_salesforce(spec, company, record_id, search)
    except salesforce_schema.SchemaUnavailable as exc:
        raise PreviewUnavailable(str(exc)) from exc
    except ConnectorError as exc:
        raise PreviewUnavailable(f"the read failed: {exc}") from exc
