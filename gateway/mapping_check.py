"""Is an object mapping complete enough to sync? Shared by the mappings editor and the Real-Time
Configuration page (which refuses to switch on a mapping with errors).

A mapping that passed the sync-config validator can still be unusable against the real org:
a required field nobody fills, a date written into a number, an external id that is not one.
``problems`` works that out from the normalized spec and the org's describe (pure: the caller
supplies the describe); ``check_mapping`` fetches the describe and calls it. Errors block real
time; warnings are shown and allowed. Each problem names where it is (``fields[2]``,
``external_id``, ``lines.fields[0]``) so the editor can put it next to the row at fault.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import qbo_fields, salesforce_schema
from .mapping import BOTH, QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from .sync_config import DEFAULT_EXTERNAL_ID

ERROR, WARNING = "error", "warning"

# Salesforce describe types -> the kinds of gateway.qbo_fields.
_SALESFORCE_KINDS = {
    **dict.fromkeys(
        ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
         "encryptedstring", "time"),
        qbo_fields.STRING,
    ),
    **dict.fromkeys(("currency", "double", "percent"), qbo_fields.DECIMAL),
    **dict.fromkeys(("int", "long"), qbo_fields.INTEGER),
    **dict.fromkeys(("id", "reference"), qbo_fields.ID),
    "boolean": qbo_fields.BOOLEAN,
    "date": qbo_fields.DATE,
    "datetime": qbo_fields.DATETIME,
}  # fmt: skip
_NUMBERS = {qbo_fields.DECIMAL, qbo_fields.INTEGER}
_TEXT_LIKE = {qbo_fields.STRING, qbo_fields.ID}


@dataclass(frozen=True)
class Problem:
    severity: str  # ERROR blocks real time; WARNING is shown only
    where: str  # "" (the mapping), "external_id", "fields[2]", "lines.fields[0]", ...
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def salesforce_kind(describe_type: str) -> str | None:
    """The gateway.qbo_fields kind of a Salesforce describe type (None: not one we check)."""
    return _SALESFORCE_KINDS.get(describe_type)


def is_complete(found: list[Problem]) -> bool:
    return not any(problem.is_error for problem in found)


def _flows(field: Mapping[str, Any], mapping_direction: str, direction: str) -> bool:
    return field.get("direction", mapping_direction) in (direction, BOTH)


def compatibility(source: str, target: str) -> str | None:
    """None when a value of kind ``source`` fits kind ``target``; else ERROR or WARNING."""
    if source == target or target == qbo_fields.STRING:
        return None  # everything can be written as text
    if target == qbo_fields.ID:
        return ERROR  # a record id comes from a lookup, not from another kind of value
    if source == qbo_fields.STRING:
        return WARNING  # text parses only if every value happens to be a number/date/...
    if source in _NUMBERS and target in _NUMBERS:
        return WARNING if target == qbo_fields.INTEGER else None
    if source == qbo_fields.DATE and target == qbo_fields.DATETIME:
        return None
    if source == qbo_fields.DATETIME and target == qbo_fields.DATE:
        return WARNING  # the time of day is dropped
    if source == qbo_fields.ID and target in _TEXT_LIKE:
        return None
    return ERROR


def _kind_name(kind: str) -> str:
    return {"id": "record id", "decimal": "number", "integer": "whole number"}.get(kind, kind)


class _Checker:
    def __init__(
        self,
        spec: Mapping[str, Any],
        sf_fields: Mapping[str, dict] | None,
        line_sf_fields: Mapping[str, dict] | None,
    ) -> None:
        self.spec = spec
        self.direction = spec.get("direction", BOTH)
        self.sf_fields = sf_fields
        self.line_sf_fields = line_sf_fields
        self.found: list[Problem] = []

    def add(self, severity: str, where: str, message: str) -> None:
        self.found.append(Problem(severity, where, message))

    @property
    def to_salesforce(self) -> bool:
        return self.direction in (BOTH, QUICKBOOKS_TO_SALESFORCE)

    @property
    def to_quickbooks(self) -> bool:
        return self.direction in (BOTH, SALESFORCE_TO_QUICKBOOKS)

    def run(self) -> list[Problem]:
        spec = self.spec
        entity, sobject = spec["quickbooks"], spec["salesforce"]
        if not qbo_fields.fields_of(entity):
            self.add(
                WARNING,
                "quickbooks",
                f"{entity} is not in the field catalogue: its fields cannot be checked",
            )
        if self.sf_fields is None:
            self.add(ERROR, "salesforce", f"the Salesforce org has no object {sobject}")
        fields = spec.get("fields", ())
        if not fields:
            self.add(ERROR, "fields", "no fields are mapped yet")
        self.check_external_id(
            "external_id", spec.get("external_id", DEFAULT_EXTERNAL_ID), self.sf_fields, sobject
        )
        self.check_rows("fields", fields, entity, self.sf_fields, sobject, lines=False)
        self.check_delete_policy()
        for index, rule in enumerate(spec.get("match", ())):
            self.check_sf_exists(f"match[{index}]", rule["salesforce"], self.sf_fields, sobject)
        lines = spec.get("lines")
        if lines:
            self.check_lines(lines, entity)
        exempt = {spec.get("external_id", DEFAULT_EXTERNAL_ID)}
        if self.to_salesforce:
            self.check_sf_required("fields", fields, self.sf_fields, sobject, exempt)
        if self.to_quickbooks:
            self.check_qbo_required("fields", fields, entity, lines=False, has_lines=bool(lines))
        return self.found

    # -- pieces ---------------------------------------------------------------------------------

    def check_external_id(
        self, where: str, name: str, described: Mapping[str, dict] | None, sobject: str
    ) -> None:
        if described is None:
            return
        field = described.get(name)
        if field is None:
            self.add(ERROR, where, f"{sobject} has no field {name} for the external id")
        elif not field.get("externalId"):
            self.add(ERROR, where, f"{sobject}.{name} is not marked External ID in Salesforce")
        elif _SALESFORCE_KINDS.get(field["type"]) != qbo_fields.STRING:
            self.add(
                ERROR,
                where,
                f"{sobject}.{name} is a {field['type']} field; the external "
                "id is text like <realm id>-<QuickBooks id>",
            )

    def check_sf_exists(
        self, where: str, name: str, described: Mapping[str, dict] | None, sobject: str
    ) -> dict | None:
        if described is None:
            return None
        field = described.get(name)
        if field is None:
            self.add(ERROR, where, f"{sobject} has no field {name}")
        return field

    def check_delete_policy(self) -> None:
        policy = self.spec.get("on_delete", "ignore")
        if not policy.startswith("flag:") or self.sf_fields is None:
            return
        name = policy.removeprefix("flag:")
        field = self.check_sf_exists("on_delete", name, self.sf_fields, self.spec["salesforce"])
        if field is not None and field["type"] != "boolean":
            self.add(
                ERROR,
                "on_delete",
                f"{name} is a {field['type']} field; the delete flag must be a checkbox",
            )

    def check_rows(
        self,
        group: str,
        rows: Any,
        entity: str,
        described: Mapping[str, dict] | None,
        sobject: str,
        lines: bool,
    ) -> None:
        for index, row in enumerate(rows):
            where = f"{group}[{index}]"
            sf_field = None
            if "salesforce" in row:
                sf_field = self.check_sf_exists(where, row["salesforce"], described, sobject)
            qbo_field = (
                qbo_fields.find(entity, row["quickbooks"], lines) if "quickbooks" in row else None
            )
            if "quickbooks" in row and qbo_field is None and qbo_fields.fields_of(entity, lines):
                self.add(
                    WARNING,
                    where,
                    f"{row['quickbooks']} is not a {entity} field the "
                    "catalogue knows: check the path against a real record",
                )
            writes_sf = "salesforce" in row and _flows(
                row, self.direction, QUICKBOOKS_TO_SALESFORCE
            )
            writes_qbo = "quickbooks" in row and _flows(
                row, self.direction, SALESFORCE_TO_QUICKBOOKS
            )
            if (
                sf_field is not None
                and writes_sf
                and not (sf_field.get("createable") or sf_field.get("updateable"))
            ):
                self.add(ERROR, where, f"{sobject}.{row['salesforce']} is read-only in Salesforce")
            if qbo_field is not None and writes_qbo and qbo_field.read_only:
                self.add(
                    ERROR,
                    where,
                    f"{row['quickbooks']} is computed by QuickBooks and cannot be written",
                )
            if sf_field is None or qbo_field is None or "values" in row:
                continue  # a value map translates, so the source type says nothing
            sf_kind = _SALESFORCE_KINDS.get(sf_field["type"])
            if sf_kind is None:
                continue
            if writes_sf:
                self.check_kinds(
                    where, row, qbo_field.kind, sf_kind, "into", f"{sobject}.{row['salesforce']}"
                )
                self.check_length(where, row, qbo_field.length, sf_field.get("length"))
            if writes_qbo:
                self.check_kinds(
                    where, row, sf_kind, qbo_field.kind, "from", f"{sobject}.{row['salesforce']}"
                )

    def check_kinds(
        self, where: str, row: Mapping[str, Any], source: str, target: str, word: str, sf: str
    ) -> None:
        if "lookup" in row:
            if qbo_fields.ID not in (source, target) and target != qbo_fields.STRING:
                self.add(ERROR, where, f"a lookup carries record ids; {sf} is not a reference")
            return
        if source == qbo_fields.ID and target == qbo_fields.ID:
            self.add(
                ERROR,
                where,
                f"{row['quickbooks']} ⇄ {sf} links records: choose the "
                "mapping to look the id up in",
            )
            return
        verdict = compatibility(source, target)
        if verdict is None:
            return
        qbo, sf_side = (
            f"{row['quickbooks']} ({_kind_name(source if word == 'into' else target)})",
            sf,
        )
        sf_kind = _kind_name(target if word == "into" else source)
        if word == "into":
            message = f"{qbo} into {sf_side} ({sf_kind})"
        else:
            message = f"{sf_side} ({sf_kind}) into {qbo}"
        hint = "values may not convert" if verdict == WARNING else "the types do not fit"
        self.add(verdict, where, f"{message}: {hint}")

    def check_length(
        self, where: str, row: Mapping[str, Any], qbo_length: int | None, sf_length: int | None
    ) -> None:
        if qbo_length and sf_length and qbo_length > sf_length:
            self.add(
                WARNING,
                where,
                f"{row['quickbooks']} holds up to {qbo_length} characters; "
                f"{row['salesforce']} keeps {sf_length}, longer values are refused",
            )

    def check_sf_required(
        self,
        group: str,
        rows: Any,
        described: Mapping[str, dict] | None,
        sobject: str,
        exempt: set[str],
    ) -> None:
        if described is None:
            return
        written = {
            row["salesforce"]
            for row in rows
            if "salesforce" in row and _flows(row, self.direction, QUICKBOOKS_TO_SALESFORCE)
        }
        for name, field in sorted(described.items()):
            required = (
                field.get("createable")
                and not field.get("nillable")
                and not field.get("defaultedOnCreate")
                and field.get("type") != "boolean"
            )
            if required and name not in written and name not in exempt:
                self.add(
                    ERROR,
                    group,
                    f"required Salesforce field {sobject}.{name} is not mapped or given a default",
                )

    def check_qbo_required(
        self, group: str, rows: Any, entity: str, lines: bool, has_lines: bool
    ) -> None:
        written = {
            row["quickbooks"].split(".", 1)[0]
            if row["quickbooks"].startswith("Line.")
            else row["quickbooks"]
            for row in rows
            if "quickbooks" in row and _flows(row, self.direction, SALESFORCE_TO_QUICKBOOKS)
        }
        for field in qbo_fields.fields_of(entity, lines):
            if not field.required or field.path in written:
                continue
            if field.kind == qbo_fields.LINES and has_lines:
                continue
            what = f"line field {field.path}" if lines else f"{entity}.{field.path}"
            hint = " (add line items below)" if field.kind == qbo_fields.LINES else ""
            self.add(
                ERROR, group, f"required QuickBooks {what} is not mapped or given a default{hint}"
            )

    def check_lines(self, lines: Mapping[str, Any], entity: str) -> None:
        sobject = lines["salesforce"]
        described = self.line_sf_fields
        if entity not in qbo_fields.LINE_ENTITIES:
            self.add(ERROR, "lines", f"{entity} records have no line items")
        if described is None:
            self.add(ERROR, "lines.salesforce", f"the Salesforce org has no object {sobject}")
        else:
            parent = described.get(lines["parent_field"])
            if parent is None:
                self.add(
                    ERROR, "lines.parent_field", f"{sobject} has no field {lines['parent_field']}"
                )
            elif parent.get("type") != "reference":
                self.add(
                    ERROR,
                    "lines.parent_field",
                    f"{sobject}.{lines['parent_field']} is not a lookup to the parent",
                )
        external_id = lines.get("external_id", DEFAULT_EXTERNAL_ID)
        self.check_external_id("lines.external_id", external_id, described, sobject)
        rows = lines.get("fields", ())
        self.check_rows("lines.fields", rows, entity, described, sobject, lines=True)
        if self.to_salesforce:
            exempt = {external_id, lines["parent_field"]}
            self.check_sf_required("lines.fields", rows, described, sobject, exempt)
        if self.to_quickbooks:
            self.check_qbo_required("lines.fields", rows, entity, lines=True, has_lines=True)


def problems(
    spec: Mapping[str, Any],
    sf_fields: Mapping[str, dict] | None,
    line_sf_fields: Mapping[str, dict] | None = None,
) -> list[Problem]:
    """What keeps a normalized mapping from syncing. ``sf_fields`` is the describe of its
    Salesforce object (field name -> describe; None: the org has no such object);
    ``line_sf_fields`` the same for the line object, when the mapping has lines."""
    return _Checker(spec, sf_fields, line_sf_fields).run()


def check_mapping(spec: Mapping[str, Any]) -> list[Problem]:
    """``problems`` against the connected org's describe (cached). Without a reachable org the
    Salesforce side cannot be checked, which is itself an error: real time needs the org."""
    try:
        sf_fields = salesforce_schema.fields(spec["salesforce"])
        lines = spec.get("lines")
        line_fields = salesforce_schema.fields(lines["salesforce"]) if lines else None
    except salesforce_schema.SchemaUnavailable as exc:
        return [Problem(ERROR, "salesforce", f"cannot check the Salesforce side: {exc}")]
    return problems(spec, sf_fields, line_fields)
