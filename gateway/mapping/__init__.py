"""Pure record mapping between QuickBooks Online (QBO) and Salesforce (SF).

A mapping (the normalized dict that ``gateway.sync_config.parse_config`` returns and the database
stores) pairs one QBO entity with one SF object. Each field rule pairs a dotted path in the QBO
record (``BillAddr.City``, ``Line.0.Amount``) with a flat SF field name, and has a direction:
``quickbooks_to_salesforce``, ``salesforce_to_quickbooks`` or ``both``. A rule with only one
side and a ``default`` is a constant written to that side (``{salesforce: StageName, default:
Closed Won}``); its direction is the one towards its side. ``to_salesforce`` applies
the rules that flow towards Salesforce and ``to_quickbooks`` those that flow towards QuickBooks, so
one rule list serves both ways.

Each rule's value goes through the same steps in both directions: read the source value; translate
it (through a lookup or a value map); fill in the ``default`` when it is missing; check
``required``; coerce it to the target's type.

Lookups. A rule with ``lookup: customers`` carries a record id of the entity/object of the mapping
named ``customers`` (an Invoice's ``CustomerRef.value`` is a QBO Customer id, an Opportunity's
``AccountId`` an SF Account id). Ids cannot be copied from one system to the other; only the
sync's record links know the counterpart. So ``references()`` lists the ids a record needs, the
caller resolves them (syncing a parent that has no link yet first) and passes ``resolved``:
``{(mapping name, source-side id): target-side id}``. Anything still unresolved raises
``UnresolvedReference`` listing all of them at once, so the caller can sync every parent in one go.

What this module does not do: external ids, ``Id``/``SyncToken`` and sparse flags belong to the
sync, which knows the company and the current record versions.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.mapping.coerce import COERCIONS, SALESFORCE_TYPE_COERCIONS, coerce, value_key
from gateway.mapping.paths import get_path, set_path

__all__ = [
    "BOTH", "COERCIONS", "DIRECTIONS", "QUICKBOOKS_TO_SALESFORCE", "SALESFORCE_TO_QUICKBOOKS",
    "SALESFORCE_TYPE_COERCIONS", "MappingError", "Reference", "UnresolvedReference",
    "clean_quickbooks_record", "coerce", "get_path", "match_criteria", "payload_hash",
    "references", "set_path", "to_quickbooks", "to_salesforce", "value_key",
]  # fmt: skip

QUICKBOOKS_TO_SALESFORCE = "quickbooks_to_salesforce"
SALESFORCE_TO_QUICKBOOKS = "salesforce_to_quickbooks"
BOTH = "both"
DIRECTIONS = (QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS, BOTH)

# QBO renames an inactive name-list record "Acme (deleted)"; that is not the name to sync.
_DELETED_SUFFIX = " (deleted)"
_NAME_FIELDS = ("DisplayName", "FullyQualifiedName", "Name")


class MappingError(ValueError):
    """The record cannot be mapped; ``fields`` labels the rules at fault ("DisplayName → Name")."""

    def __init__(self, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.fields = list(fields)


@dataclass(frozen=True)
class Reference:
    """A record id that a lookup rule needs translated: ``source_id`` of mapping ``mapping_name``,
    read from ``field`` (the source-side path) of the record being mapped."""

    mapping_name: str
    source_id: str
    field: str


class UnresolvedReference(MappingError):
    """Lookups missing from ``resolved``; sync those records first, then map again."""

    def __init__(self, references: Iterable[Reference]) -> None:
        self.references = list(references)
        super().__init__(
            "; ".join(
                f"unresolved lookup: {ref.mapping_name} {ref.source_id} ({ref.field})"
                for ref in self.references
            ),
            [ref.field for ref in self.references],
        )


def clean_quickbooks_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a QBO record without the " (deleted)" suffix on the name fields.

    Only records not marked ``Active: true`` are touched, so an active customer whose real name
    ends in " (deleted)" keeps it. Reference names (``CustomerRef.name``) are left alone: the
    record does not say whether the referenced one is active.
    """
    cleaned = dict(record)
    if cleaned.get("Active") is True:
        return cleaned
    for key in _NAME_FIELDS:
        name = cleaned.get(key)
        if isinstance(name, str) and name.endswith(_DELETED_SUFFIX):
            cleaned[key] = name.removesuffix(_DELETED_SUFFIX)
    return cleaned


def _sides(direction: str) -> tuple[str, str]:
    """(source key, target key) of a rule for a one-way direction."""
    if direction == QUICKBOOKS_TO_SALESFORCE:
        return "quickbooks", "salesforce"
    if direction == SALESFORCE_TO_QUICKBOOKS:
        return "salesforce", "quickbooks"
    raise ValueError(f"direction must be {QUICKBOOKS_TO_SALESFORCE} or {SALESFORCE_TO_QUICKBOOKS}")


def _rules(mapping: Mapping[str, Any], direction: str) -> list[Mapping[str, Any]]:
    return [
        rule
        for rule in mapping.get("fields", ())
        if rule.get("direction", mapping.get("direction", BOTH)) in (direction, BOTH)
    ]


def _is_blank(value: Any) -> bool:
    # SF sends null for an emptied text field, QBO omits it; "" and "  " mean the same.
    return value is None or (isinstance(value, str) and not value.strip())


def _inverse(values: Mapping[str, Any], value: Any) -> str | None:
    wanted = value_key(value)
    return next((key for key, mapped in values.items() if value_key(mapped) == wanted), None)


def _default(rule: Mapping[str, Any], direction: str) -> Any:
    # With a value map the default is an SF-side value (as in `default: Other`), so towards
    # QuickBooks it goes through the inverse map too; one without an entry gives nothing.
    default = rule.get("default")
    if default is not None and "values" in rule and direction == SALESFORCE_TO_QUICKBOOKS:
        return _inverse(rule["values"], default)
    return default


def references(
    record: Mapping[str, Any], mapping: Mapping[str, Any], direction: str
) -> list[Reference]:
    """The lookups ``record`` needs resolved before it can be mapped in ``direction``."""
    source_key, _ = _sides(direction)
    found = []
    for rule in _rules(mapping, direction):
        if source_key not in rule:
            continue  # a constant reads nothing
        value = get_path(record, rule[source_key])
        if "lookup" in rule and not _is_blank(value):
            found.append(Reference(rule["lookup"], value_key(value), rule[source_key]))
    return found


def _map(
    record: Mapping[str, Any],
    mapping: Mapping[str, Any],
    resolved: Mapping[tuple[str, str], Any],
    field_types: Mapping[str, str] | None,
    direction: str,
) -> list[tuple[str, Any]]:
    source_key, target_key = _sides(direction)
    mapped: list[tuple[str, Any]] = []
    problems: list[str] = []
    bad_fields: list[str] = []
    unresolved: list[Reference] = []
    for rule in _rules(mapping, direction):
        # A constant has only the target side: no source value, so its default is written.
        source = rule.get(source_key)
        label = f"{source or 'constant'} → {rule[target_key]}"
        value = get_path(record, source) if source else None
        if _is_blank(value):
            value = None
        elif "lookup" in rule:
            reference = Reference(rule["lookup"], value_key(value), source)
            value = resolved.get((reference.mapping_name, reference.source_id))
            if value is None:
                unresolved.append(reference)
                continue
        elif "values" in rule:
            value = (
                rule["values"].get(value_key(value))
                if direction == QUICKBOOKS_TO_SALESFORCE
                else _inverse(rule["values"], value)
            )
        if value is None:
            value = _default(rule, direction)
        if value is None and rule.get("required"):
            problems.append(f"required field missing: {label}")
            bad_fields.append(label)
            continue
        kind = rule.get("type") or SALESFORCE_TYPE_COERCIONS.get(
            (field_types or {}).get(rule.get("salesforce", ""), "")
        )
        if value is not None and kind:
            try:
                value = coerce(value, kind, direction == QUICKBOOKS_TO_SALESFORCE)
            except ValueError:
                problems.append(f"{label}: cannot convert {value!r} to {kind}")
                bad_fields.append(label)
                continue
        mapped.append((rule[target_key], value))
    # A permanent problem comes first: syncing the parents would not make this record mappable.
    if problems:
        raise MappingError("; ".join(problems), bad_fields)
    if unresolved:
        raise UnresolvedReference(unresolved)
    return mapped


def to_salesforce(
    record: Mapping[str, Any],
    mapping: Mapping[str, Any],
    resolved: Mapping[tuple[str, str], Any],
    field_types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """SF field values for a QBO record. A missing source value gives None, which clears the field.

    ``field_types`` maps SF field names to SF describe types; a rule's own ``type`` wins over it.
    """
    cleaned = clean_quickbooks_record(record)
    return dict(_map(cleaned, mapping, resolved, field_types, QUICKBOOKS_TO_SALESFORCE))


def to_quickbooks(
    record: Mapping[str, Any],
    mapping: Mapping[str, Any],
    resolved: Mapping[tuple[str, str], Any],
    field_types: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A nested QBO body for an SF record; None at a path means the SF field is empty.

    ``field_types`` maps the SF (source) field names to SF describe types.
    """
    body: dict[str, Any] = {}
    for path, value in _map(record, mapping, resolved, field_types, SALESFORCE_TO_QUICKBOOKS):
        set_path(body, path, value)
    return body


def match_criteria(
    record: Mapping[str, Any], mapping: Mapping[str, Any], direction: str
) -> list[tuple[str, Any]]:
    """(target field or path, value) pairs, from the mapping's ``match`` rules, by which to look
    for an existing target record before creating one. Rules with no value here are skipped."""
    source_key, target_key = _sides(direction)
    if direction == QUICKBOOKS_TO_SALESFORCE:
        record = clean_quickbooks_record(record)
    pairs = []
    for rule in mapping.get("match", ()):
        value = get_path(record, rule[source_key])
        if not _is_blank(value):
            pairs.append((rule[target_key], value))
    return pairs


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int | float | Decimal):
        return value_key(value)
    raise TypeError(f"cannot hash a {type(value).__name__}")


def payload_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex of the payload as canonical JSON: sorted keys, numbers as decimal strings, no
    None values in objects. Equal hashes mean the target already holds this content."""
    canonical = _canonical(payload)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
