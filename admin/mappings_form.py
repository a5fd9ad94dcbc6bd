"""The mapping editor's form, as data: posted fields <-> editor state <-> sync-config draft.

The editor posts flat names (``fields-3-salesforce``); rows carry the number they were given
when added, so a removed row leaves a gap and the numbers are not positions. ``draft`` turns the
state into the dict a sync-config file would hold for this mapping and remembers which row each
``fields[i]`` of the draft came from, so the validator's and the completeness check's messages
land next to the right row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

ROW_GROUPS = ("fields", "match", "linefields")
ROW_KEYS = {
    "fields": ("quickbooks", "salesforce", "direction", "default", "lookup", "values", "type"),
    "match": ("quickbooks", "salesforce"),
    "linefields": ("quickbooks", "salesforce", "direction", "default", "lookup", "values", "type"),
}
HEADER_KEYS = ("name", "quickbooks", "salesforce", "direction", "external_id", "on_delete_flag")
LINE_KEYS = ("salesforce", "parent_field", "external_id", "default_item")
# Where a draft's list lives, per row group (linefields are the draft's lines.fields).
DRAFT_GROUP = {"fields": "fields", "match": "match", "linefields": "lines.fields"}
_ROW_NAME = re.compile(r"(fields|match|linefields)-(\d{1,6})-([a-z_]+)")
_WHERE = re.compile(r"^(fields|match|lines\.fields)\[(\d+)\]")
# A message about one of the form's own inputs: its location -> the input's id.
HEADER_INPUTS = {
    "name": "name",
    "quickbooks": "quickbooks",
    "salesforce": "salesforce",
    "direction": "direction",
    "external_id": "external_id",
    "on_delete": "on_delete_flag",  # the policy's problems are about its checkbox field
    "companies": "companies",
    "lines.salesforce": "lines_salesforce",
    "lines.parent_field": "lines_parent_field",
    "lines.external_id": "lines_external_id",
    "lines.default_item": "lines_default_item",
}


@dataclass
class EditorState:
    header: dict[str, str] = field(default_factory=dict)
    on_delete: str = "ignore"  # ignore | delete | flag
    companies: list[str] = field(default_factory=list)
    lines_enabled: bool = False
    lines: dict[str, str] = field(default_factory=dict)
    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {group: [] for group in ROW_GROUPS}
    )

    def next_row_number(self) -> int:
        numbers = [row["n"] for rows in self.rows.values() for row in rows]
        return max(numbers, default=-1) + 1

    def is_empty(self) -> bool:
        return not any(self.rows[group] for group in ("fields", "linefields"))


def state_from_form(form: MultiDict) -> EditorState:
    state = EditorState(
        header={key: form.get(key, "").strip() for key in HEADER_KEYS},
        on_delete=form.get("on_delete", "ignore"),
        companies=sorted({value for value in form.getlist("companies") if value}),
        lines_enabled=form.get("lines_enabled") == "on",
        lines={key: form.get(f"lines_{key}", "").strip() for key in LINE_KEYS},
    )
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for name in form:
        match = _ROW_NAME.fullmatch(name)
        if not match:
            continue
        group, number, key = match.group(1), int(match.group(2)), match.group(3)
        row = rows.setdefault((group, number), {"n": number, "required": False})
        if key == "required":
            row["required"] = form.get(name) == "on"
        elif key in ROW_KEYS[group]:
            row[key] = form.get(name, "").strip() if key != "values" else form.get(name, "")
    for (group, _), row in sorted(rows.items(), key=lambda item: item[0][1]):
        state.rows[group].append(row)
    return state


def _values_text(values: dict[str, Any]) -> str:
    return "\n".join(f"{key} = {value}" for key, value in values.items())


def _row_from_spec(number: int, spec_field: dict[str, Any], mapping_direction: str) -> dict:
    row: dict[str, Any] = {
        "n": number,
        "quickbooks": spec_field.get("quickbooks", ""),
        "salesforce": spec_field.get("salesforce", ""),
        "required": bool(spec_field.get("required")),
        "default": "" if "default" not in spec_field else _text(spec_field["default"]),
        "lookup": spec_field.get("lookup", ""),
        "values": _values_text(spec_field.get("values", {})),
        "type": spec_field.get("type", ""),
        "direction": "",
    }
    one_sided = not (row["quickbooks"] and row["salesforce"])
    if not one_sided and spec_field.get("direction", mapping_direction) != mapping_direction:
        row["direction"] = spec_field["direction"]
    return row


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def state_from_spec(spec: dict[str, Any]) -> EditorState:
    direction = spec.get("direction", "both")
    policy = spec.get("on_delete", "ignore")
    state = EditorState(
        header={
            "name": spec.get("name", ""),
            "quickbooks": spec.get("quickbooks", ""),
            "salesforce": spec.get("salesforce", ""),
            "direction": direction,
            "external_id": spec.get("external_id", ""),
            "on_delete_flag": policy.removeprefix("flag:") if policy.startswith("flag:") else "",
        },
        on_delete="flag" if policy.startswith("flag:") else policy,
        companies=list(spec.get("companies", ())),
    )
    number = 0
    for spec_field in spec.get("fields", ()):
        state.rows["fields"].append(_row_from_spec(number, spec_field, direction))
        number += 1
    for rule in spec.get("match", ()):
        state.rows["match"].append({"n": number, **rule})
        number += 1
    lines = spec.get("lines")
    if lines:
        state.lines_enabled = True
        state.lines = {key: _text(lines.get(key, "")) for key in LINE_KEYS}
        for spec_field in lines.get("fields", ()):
            state.rows["linefields"].append(_row_from_spec(number, spec_field, direction))
            number += 1
    return state


def _parse_values(text: str) -> dict[str, str] | str:
    """``1 = Direct`` per line -> {"1": "Direct"}; a malformed line is returned as the error."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            return f"value map line {line.strip()!r} is not 'QuickBooks value = Salesforce value'"
        values[key.strip()] = value.strip()
    return values


def _draft_row(row: dict[str, Any], group: str, errors: list[str], where: str) -> dict | None:
    keys = ROW_KEYS[group]
    if not any(row.get(key) for key in ("quickbooks", "salesforce", "default")):
        return None  # a row added and left blank is not part of the mapping
    drafted: dict[str, Any] = {
        key: row[key] for key in ("quickbooks", "salesforce") if row.get(key)
    }
    if group == "match":
        return drafted
    if row.get("direction"):
        drafted["direction"] = row["direction"]
    if row.get("required"):
        drafted["required"] = True
    for key in ("type", "lookup"):
        if key in keys and row.get(key):
            drafted[key] = row[key]
    if row.get("values", "").strip():
        values = _parse_values(row["values"])
        if isinstance(values, str):
            errors.append(f"{where}.values: {values}")
        else:
            drafted["values"] = values
    if row.get("default", "") != "":
        drafted["default"] = row["default"]
    return drafted


@dataclass
class Draft:
    mapping: dict[str, Any]
    row_of: dict[str, str]  # "fields[2]" -> "fields-7" (the row's DOM prefix)
    errors: list[str]  # problems found before the validator could run ("fields[2].values: ...")


def draft(state: EditorState, realtime: Any = False) -> Draft:
    """The sync-config dict for this state; ``realtime`` is kept from the stored mapping (the
    Real-Time Configuration page owns it)."""
    header = state.header
    mapping: dict[str, Any] = {
        key: header[key] for key in ("name", "quickbooks", "salesforce") if header.get(key)
    }
    mapping["direction"] = header.get("direction") or "both"
    mapping["realtime"] = realtime
    if state.companies:
        mapping["companies"] = state.companies
    if header.get("external_id"):
        mapping["external_id"] = header["external_id"]
    if state.on_delete == "flag":
        mapping["on_delete"] = f"flag:{header.get('on_delete_flag', '')}"
    else:
        mapping["on_delete"] = state.on_delete or "ignore"
    row_of: dict[str, str] = {}
    errors: list[str] = []
    lists: dict[str, list] = {group: [] for group in ROW_GROUPS}
    for group in ROW_GROUPS:
        for row in state.rows[group]:
            where = f"{DRAFT_GROUP[group]}[{len(lists[group])}]"
            drafted = _draft_row(row, group, errors, where)
            if drafted is not None:
                row_of[where] = f"{group}-{row['n']}"
                lists[group].append(drafted)
    mapping["match"] = lists["match"]
    mapping["fields"] = lists["fields"]
    if state.lines_enabled:
        lines: dict[str, Any] = {key: state.lines[key] for key in LINE_KEYS if state.lines.get(key)}
        lines["fields"] = lists["linefields"]
        mapping["lines"] = lines
    return Draft(mapping, row_of, errors)


def row_for(where: str, row_of: dict[str, str]) -> str | None:
    """The DOM id of the row (``fields-7``) or input (``external_id``) a message's location
    (``fields[2].salesforce``, ``external_id``) is about."""
    match = _WHERE.match(where)
    if match:
        return row_of.get(match.group(0))
    return HEADER_INPUTS.get(re.sub(r"\[\d+\]$", "", where))
