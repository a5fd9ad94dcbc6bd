"""The parts of the Salesforce package (``salesforce/``) that follow from the sync config.

``flask salesforce-package generate [CONFIG]`` reads a sync-config file (default
``docs/sync.example.yaml``) and rewrites, under ``salesforce/force-app/main/default``:

- ``objects/<Object>/fields/<Field>.field-meta.xml``: every custom field the mappings use on
  a standard object: the ``external_id`` field (Text 255, External ID, unique), the
  ``on_delete: flag:<field>`` checkbox, and each ``…__c`` field of the field and match rules;
- ``customMetadata/QBO_Sync_Object.<Object>.md-meta.xml``: which objects the package's triggers
  report to the gateway, and which fields count as a change there (those that flow towards
  QuickBooks); a ``lines:`` child object reports its parent;
- ``permissionsets/QBO_Sync_Integration.permissionset-meta.xml``: the integration user's
  bypass permission and its access to those fields.

Files it owns and no longer produces are deleted: every ``QBO_Sync_Object`` record, and every
field of an object folder that has no ``<Object>.object-meta.xml`` (standard objects: the
package defines none of their fields by hand). ``--check`` changes nothing and fails when the
committed files differ, which the test suite runs.

``generate_files`` is pure (mappings in, file texts out); only ``sync_package`` touches disk.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import click
from flask import current_app

from gateway import sync_config
from gateway.mapping import BOTH, SALESFORCE_TO_QUICKBOOKS

PACKAGE_SOURCE = Path("salesforce/force-app/main/default")
DEFAULT_CONFIG = Path("docs/sync.example.yaml")
RULE_TYPE = "QBO_Sync_Object"
INTEGRATION_PERMISSION_SET = "QBO_Sync_Integration"
BYPASS_PERMISSION = "QBO_Sync_Bypass"

_NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
_MONEY_WORDS = ("amt", "amount", "balance", "price", "cost", "total")


@dataclass(frozen=True)
class CustomField:
    """One generated field; ``kind`` picks its XML shape."""

    object_name: str
    name: str
    kind: str  # external_id | checkbox | currency | number | integer | date | datetime | email
    #            | phone | text

    @property
    def label(self) -> str:
        # Salesforce labels are at most 40 characters; API names give a readable one.
        return self.name.removesuffix("__c").replace("_", " ")[:40]


def _is_custom(field_name: str | None) -> bool:
    return bool(field_name) and field_name.endswith("__c")


def _towards_quickbooks(direction: str) -> bool:
    return direction in (BOTH, SALESFORCE_TO_QUICKBOOKS)


def _field_kind(rule: dict[str, Any]) -> str:
    """The Salesforce type of a custom field, from the rule's ``type`` or the QuickBooks side.

    The sync config names no Salesforce types, so they are inferred: an explicit coercion wins,
    then the QuickBooks path's last word (``Balance`` is money, ``PrimaryEmailAddr`` an email),
    and text otherwise, which accepts any value the sync writes.
    """
    coercion = rule.get("type")
    if coercion in ("boolean", "date", "datetime", "integer"):
        return {"boolean": "checkbox"}.get(coercion, coercion)
    path = str(rule.get("quickbooks") or "")
    words = [part.lower() for part in path.split(".") if not part.isdigit()]
    last = words[-1] if words else ""
    if any(last.endswith(word) for word in _MONEY_WORDS):
        return "currency"
    if coercion == "decimal" or last in ("qty", "quantity"):
        return "number"
    if any("email" in word for word in words):
        return "email"
    if any("phone" in word for word in words):
        return "phone"
    if last.endswith("date"):
        return "date"
    if last in ("active", "taxable"):
        return "checkbox"
    return "text"


def _object_parts(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    """The mapping's Salesforce object and its ``lines:`` child, each with its own rules."""
    parts = [
        {
            "object": mapping["salesforce"],
            "external_id": mapping.get("external_id", sync_config.DEFAULT_EXTERNAL_ID),
            "on_delete": mapping.get("on_delete", "ignore"),
            "fields": list(mapping.get("fields", ())),
            "match": list(mapping.get("match", ())),
            "parent_field": None,
        }
    ]
    lines = mapping.get("lines")
    if lines:
        parts.append(
            {
                "object": lines["salesforce"],
                "external_id": lines.get("external_id", sync_config.DEFAULT_EXTERNAL_ID),
                "on_delete": "ignore",
                "fields": list(lines.get("fields", ())),
                "match": [],
                "parent_field": lines.get("parent_field"),
            }
        )
    return parts


def custom_fields(mappings: Iterable[dict[str, Any]]) -> list[CustomField]:
    """Every custom field the mappings need, once, sorted by object and name."""
    found: dict[tuple[str, str], CustomField] = {}

    def add(field: CustomField, overrides: bool) -> None:
        key = (field.object_name, field.name)
        if overrides or key not in found:
            found[key] = field

    for mapping in mappings:
        for part in _object_parts(mapping):
            obj = part["object"]
            for rule in part["fields"] + part["match"]:
                if _is_custom(rule.get("salesforce")):
                    add(CustomField(obj, rule["salesforce"], _field_kind(rule)), overrides=False)
            flag = part["on_delete"].removeprefix("flag:")
            if part["on_delete"].startswith("flag:") and _is_custom(flag):
                add(CustomField(obj, flag, "checkbox"), overrides=True)
            if _is_custom(part["external_id"]):
                # The gateway upserts by it: whatever else names the field, it is this.
                add(CustomField(obj, part["external_id"], "external_id"), overrides=True)
    return [found[key] for key in sorted(found)]


def tracked_objects(mappings: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per Salesforce object the triggers report: the fields whose change is sent (those that
    flow towards QuickBooks) and, for a ``lines:`` child, the lookup to its parent. An object
    whose mappings all run QuickBooks → Salesforce is not reported at all."""
    objects: dict[str, dict[str, Any]] = {}
    for mapping in mappings:
        if not _towards_quickbooks(mapping.get("direction", BOTH)):
            continue
        for part in _object_parts(mapping):
            entry = objects.setdefault(
                part["object"], {"fields": set(), "parent_field": part["parent_field"]}
            )
            for rule in part["fields"]:
                has_both_sides = rule.get("salesforce") and rule.get("quickbooks")
                if has_both_sides and _towards_quickbooks(rule.get("direction", BOTH)):
                    entry["fields"].add(rule["salesforce"])
    return objects


# --- XML ------------------------------------------------------------------------------------


def _element(name: str, value: Any, indent: int = 1) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else escape(str(value))
    return f"{'    ' * indent}<{name}>{text}</{name}>\n"


def _field_xml(field: CustomField) -> str:
    body: list[tuple[str, Any]] = [("fullName", field.name)]
    kind = field.kind
    if kind == "checkbox":
        body += [("defaultValue", False), ("externalId", False), ("label", field.label)]
        body += [("type", "Checkbox")]
    elif kind == "external_id":
        body += [("caseSensitive", False), ("externalId", True), ("label", field.label)]
        body += [("length", 255), ("required", False), ("type", "Text"), ("unique", True)]
    elif kind in ("currency", "number", "integer"):
        scale = {"currency": 2, "number": 4, "integer": 0}[kind]
        body += [("externalId", False), ("label", field.label), ("precision", 18)]
        body += [("required", False), ("scale", scale)]
        body += [("type", "Currency" if kind == "currency" else "Number"), ("unique", False)]
    elif kind in ("date", "datetime", "email", "phone"):
        type_name = {"date": "Date", "datetime": "DateTime", "email": "Email", "phone": "Phone"}
        body += [("externalId", False), ("label", field.label), ("required", False)]
        body += [("type", type_name[kind])]
        if kind == "email":
            body += [("unique", False)]
    else:
        body += [("externalId", False), ("label", field.label), ("length", 255)]
        body += [("required", False), ("type", "Text"), ("unique", False)]
    description = (
        "Generated from the gateway's sync config by flask salesforce-package generate; "
        "change the sync config, not this file."
    )
    inner = _element("description", description) + "".join(_element(k, v) for k, v in body)
    # Elements of a metadata file are in alphabetical order, as Salesforce writes them.
    lines = sorted(inner.splitlines(True), key=lambda line: line.strip().split(">")[0])
    return f'{_HEADER}<CustomField xmlns="{_NAMESPACE}">\n{"".join(lines)}</CustomField>\n'


def _rule_xml(object_name: str, entry: dict[str, Any]) -> str:
    values = [
        ("Enabled__c", "xsd:boolean", "true"),
        ("Object__c", "xsd:string", object_name),
        ("Parent_Field__c", "xsd:string", entry["parent_field"]),
        ("Tracked_Fields__c", "xsd:string", ",".join(sorted(entry["fields"])) or None),
    ]
    rows = []
    for field, xsd_type, value in values:
        rows.append("    <values>\n")
        rows.append(_element("field", field, 2))
        if value is None:
            rows.append('        <value xsi:nil="true"/>\n')
        else:
            rows.append(f'        <value xsi:type="{xsd_type}">{escape(value)}</value>\n')
        rows.append("    </values>\n")
    return (
        f'{_HEADER}<CustomMetadata xmlns="{_NAMESPACE}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema">\n'
        + _element("label", object_name[:40])
        + _element("protected", False)
        + "".join(rows)
        + "</CustomMetadata>\n"
    )


def _permission_set_xml(mappings: list[dict[str, Any]], fields: list[CustomField]) -> str:
    parts = [
        _element(
            "description",
            "For the gateway's integration user only: its writes are not reported back to the "
            "gateway (QBO Sync Bypass); it sees and edits every record of the mapped objects and "
            "the custom fields the mappings use. "
            "Generated from the sync config by flask salesforce-package generate.",
        ),
        "    <customPermissions>\n",
        _element("enabled", True, 2),
        _element("name", BYPASS_PERMISSION, 2),
        "    </customPermissions>\n",
    ]
    for field in fields:
        parts.append("    <fieldPermissions>\n")
        parts.append(_element("editable", True, 2))
        parts.append(_element("field", f"{field.object_name}.{field.name}", 2))
        parts.append(_element("readable", True, 2))
        parts.append("    </fieldPermissions>\n")
    parts.append(_element("hasActivationRequired", False))
    parts.append(_element("label", "QBO Sync Integration"))
    # View All and Modify All: the gateway must see every record to match before creating
    # (else duplicates) and update records whoever owns them; Modify All requires Delete.
    # Only the mappings' own objects: a lines: child (OpportunityLineItem) takes its access
    # from its parent and cannot be named in a permission set.
    for obj in sorted({mapping["salesforce"] for mapping in mappings}):
        parts.append("    <objectPermissions>\n")
        for flag in ("allowCreate", "allowDelete", "allowEdit", "allowRead", "modifyAllRecords"):
            parts.append(_element(flag, True, 2))
        parts.append(_element("object", obj, 2))
        parts.append(_element("viewAllRecords", True, 2))
        parts.append("    </objectPermissions>\n")
    return (
        f'{_HEADER}<PermissionSet xmlns="{_NAMESPACE}">\n' + "".join(parts) + "</PermissionSet>\n"
    )


def generate_files(mappings: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Relative path under the package source -> file text, for every generated file."""
    mappings = list(mappings)
    fields = custom_fields(mappings)
    files = {
        f"objects/{field.object_name}/fields/{field.name}.field-meta.xml": _field_xml(field)
        for field in fields
    }
    for object_name, entry in tracked_objects(mappings).items():
        # A record's DeveloperName cannot contain "__": My_Object__c becomes My_Object_c.
        record = object_name.replace("__", "_")
        files[f"customMetadata/{RULE_TYPE}.{record}.md-meta.xml"] = _rule_xml(object_name, entry)
    files[f"permissionsets/{INTEGRATION_PERMISSION_SET}.permissionset-meta.xml"] = (
        _permission_set_xml(mappings, fields)
    )
    return dict(sorted(files.items()))


def owned_files(source: Path) -> set[str]:
    """The generated files present now (relative paths): what ``generate_files`` may replace."""
    owned = {
        path.relative_to(source).as_posix()
        for path in (source / "customMetadata").glob(f"{RULE_TYPE}.*.md-meta.xml")
    }
    owned.add(f"permissionsets/{INTEGRATION_PERMISSION_SET}.permissionset-meta.xml")
    for folder in (source / "objects").glob("*"):
        if folder.is_dir() and not (folder / f"{folder.name}.object-meta.xml").exists():
            owned |= {
                path.relative_to(source).as_posix() for path in folder.glob("fields/*-meta.xml")
            }
    return {name for name in owned if (source / name).exists()}


def sync_package(source: Path, files: dict[str, str], write: bool) -> list[str]:
    """Make the generated part of the package equal ``files``; with ``write=False`` only say
    what differs. Returns the differing paths, each marked 'changed', 'new' or 'stale'."""
    differences = []
    for name, text in files.items():
        path = source / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        differences.append(f"{'new' if current is None else 'changed'}: {name}")
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    for name in sorted(owned_files(source) - set(files)):
        differences.append(f"stale: {name}")
        if write:
            (source / name).unlink()
    return differences


@click.group("salesforce-package", help="The Salesforce package's files made from the config.")
def salesforce_package_group() -> None:
    pass


@salesforce_package_group.command("generate")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--package-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The package's source folder (default: salesforce/force-app/main/default).",
)
@click.option("--check", is_flag=True, help="Change nothing; fail if the files are not current.")
def generate_command(config: Path | None, package_dir: Path | None, check: bool) -> None:
    """Write the custom fields, the QBO Sync Object records and the integration permission
    set that CONFIG (a sync-config file; default docs/sync.example.yaml) needs."""
    project = Path(current_app.root_path).parent
    config = config or project / DEFAULT_CONFIG
    source = package_dir or project / PACKAGE_SOURCE
    try:
        mappings = sync_config.parse_config(config.read_text(encoding="utf-8"))
    except OSError as exc:
        raise click.ClickException(f"cannot read {config}: {exc.strerror}") from exc
    except sync_config.ConfigError as exc:
        raise click.ClickException(f"{config} is not valid:\n{exc}") from exc
    differences = sync_package(source, generate_files(mappings), write=not check)
    for line in differences:
        click.echo(line)
    if check and differences:
        click.echo(
            f"The package is out of step with {config}: run "
            "`flask salesforce-package generate` and commit the result.",
            err=True,
        )
        sys.exit(1)
    if not differences:
        click.echo("The package is up to date.")
