"""Is an object mapping complete enough to sync? The one check the Real-Time Configuration page
and the mappings pages share; the server runs it before switching real time on.

`problems(spec, describe)` is pure: given the mapping and the Salesforce describe of its objects
it lists what is missing. `check(mapping)` fetches the describes (cached, shared by every process)
and calls it with the QuickBooks field catalogue (gateway.qbo_fields). An incomplete mapping can be
saved; it cannot be switched on. Each problem says where in the mapping it is (`fields[2]`,
`external_id`, `lines.fields[0]`), so the editor can show it next to the row at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from . import qbo_fields, salesforce_schema
from .extensions import db
from .mapping import (
    BOTH,
    QUICKBOOKS_TO_SALESFORCE,
    SALESFORCE_TO_QUICKBOOKS,
    SALESFORCE_TYPE_COERCIONS,
)
from .models import ConnectionStatus, ObjectMapping, SalesforceOrg
from .qbo_fields import QuickBooksField

# What QuickBooks refuses a create without (reference/quickbooks.md; Intuit's entity pages).
# "Line" is satisfied by the mapping's `lines:` or any rule writing into Line.
REQUIRED_QUICKBOOKS_FIELDS: dict[str, tuple[str, ...]] = {
    "Customer": ("DisplayName",),
    "Vendor": ("DisplayName",),
    "Employee": ("DisplayName",),
    "Item": ("Name",),
    "Account": ("Name", "AccountType"),
    "Class": ("Name",),
    "Department": ("Name",),
    "Term": ("Name",),
    "PaymentMethod": ("Name",),
    "Invoice": ("CustomerRef.value", "Line"),
    "SalesReceipt": ("Line",),
    "Estimate": ("CustomerRef.value", "Line"),
    "CreditMemo": ("CustomerRef.value", "Line"),
    "RefundReceipt": ("Line",),
    "Payment": ("CustomerRef.value", "TotalAmt"),
    "Bill": ("VendorRef.value", "Line"),
    "PurchaseOrder": ("VendorRef.value", "Line"),
    "VendorCredit": ("VendorRef.value", "Line"),
}


@dataclass(frozen=True)
class Problem:
    """One reason a mapping cannot sync. `field` names what it is about, for showing the
    message next to it; `blocking` problems keep real time off, the others are warnings."""

    message: str
    field: str | None = None
    blocking: bool = True
    where: str | None = None  # the key or row of the mapping: "fields[2]", "external_id", ...


@dataclass(frozen=True)
class SalesforceField:
    name: str
    label: str
    type: str
    required_on_create: bool  # createable, not nillable, no default
    external_id: bool
    length: int | None
    writable: bool = True  # createable or updateable


Describe = Mapping[str, SalesforceField]  # field name -> field, of one object


# (entity, path) -> the field, or None when unknown. Line item paths are asked for with the
# entity "<Entity>.Line" (e.g. ("Invoice.Line", "SalesItemLineDetail.Qty")).
QuickBooksCatalogue = Callable[[str, str], QuickBooksField | None]

_KINDS = {
    "string": "text",
    "decimal": "number",
    "integer": "number",
    "boolean": "yes/no",
    "date": "date",
    "datetime": "date",
}


def puts_wrong_kind(quickbooks_type: str, salesforce_type: str) -> bool:
    """A date into a number, a yes/no into a date...: two different kinds, neither of them text,
    never convert. Types are gateway.mapping.COERCIONS and Salesforce describe types."""
    kinds = (
        _KINDS.get(quickbooks_type),
        _KINDS.get(SALESFORCE_TYPE_COERCIONS.get(salesforce_type)),
    )
    return None not in kinds and "text" not in kinds and kinds[0] != kinds[1]


def _flows(direction: str, towards: str) -> bool:
    return direction in (towards, BOTH)


def _rule_direction(rule: Mapping[str, Any], mapping_direction: str) -> str:
    return rule.get("direction") or mapping_direction


def _writes(rules: list[Mapping[str, Any]], side: str, towards: str, direction: str) -> set[str]:
    """The fields on `side` that some rule fills when data flows `towards` that side."""
    return {
        rule[side]
        for rule in rules
        if rule.get(side) and _flows(_rule_direction(rule, direction), towards)
    }


def _salesforce_problems(
    sobject: str,
    rules: list[Mapping[str, Any]],
    direction: str,
    describe: Describe | None,
    external_id: str | None,
    filled_by_sync: set[str],
    what: str,
    group: str = "fields",
) -> list[Problem]:
    prefix = group.removesuffix("fields")  # "" or "lines."
    if describe is None:
        return [
            Problem(
                f"{what}: the Salesforce object {sobject} does not exist in the org.",
                where=f"{prefix}salesforce",
            )
        ]
    problems = []
    for index, rule in enumerate(rules):
        name = rule.get("salesforce")
        where = f"{group}[{index}]"
        if name and name not in describe:
            problems.append(
                Problem(
                    f"{what}: Salesforce field {sobject}.{name} does not exist.", name, where=where
                )
            )
            continue
        if not name or not _flows(_rule_direction(rule, direction), QUICKBOOKS_TO_SALESFORCE):
            continue
        if not describe[name].writable:
            problems.append(
                Problem(f"{what}: {sobject}.{name} is read-only in Salesforce.", name, where=where)
            )
        elif describe[name].type == "reference" and "lookup" not in rule and "quickbooks" in rule:
            problems.append(
                Problem(
                    f"{what}: {sobject}.{name} links to another record: choose the mapping to "
                    "look the id up in.",
                    name,
                    where=where,
                )
            )
    if external_id:
        field = describe.get(external_id)
        if field is None:
            problems.append(
                Problem(
                    f"{what}: external-id field {sobject}.{external_id} does not exist.",
                    where=f"{prefix}external_id",
                )
            )
        elif not field.external_id:
            problems.append(
                Problem(
                    f"{what}: {sobject}.{external_id} is not marked External ID in Salesforce.",
                    external_id,
                    where=f"{prefix}external_id",
                )
            )
    if _flows(direction, QUICKBOOKS_TO_SALESFORCE):
        written = _writes(rules, "salesforce", QUICKBOOKS_TO_SALESFORCE, direction)
        for field in describe.values():
            if field.required_on_create and field.name not in written | filled_by_sync:
                problems.append(
                    Problem(
                        f"{what}: required Salesforce field {field.label} ({field.name}) is "
                        "not mapped and has no default.",
                        field.name,
                        where=group,
                    )
                )
    return problems


def _quickbooks_problems(
    entity: str, rules: list[Mapping[str, Any]], direction: str, has_lines: bool
) -> list[Problem]:
    if not _flows(direction, SALESFORCE_TO_QUICKBOOKS):
        return []
    written = _writes(rules, "quickbooks", SALESFORCE_TO_QUICKBOOKS, direction)
    missing = []
    for path in REQUIRED_QUICKBOOKS_FIELDS.get(entity, ()):
        if path == "Line":
            done = has_lines or any(p == "Line" or p.startswith("Line.") for p in written)
        else:
            done = path in written
        if not done:
            missing.append(
                Problem(
                    f"Required QuickBooks field {entity}.{path} is not mapped from Salesforce "
                    "and has no default.",
                    path,
                    where="lines" if path == "Line" else "fields",
                )
            )
    return missing


def _type_problems(
    entity: str,
    rules: list[Mapping[str, Any]],
    direction: str,
    describe: Describe | None,
    catalogue: QuickBooksCatalogue | None,
    what: str,
    group: str = "fields",
) -> list[Problem]:
    """A date into a number is an error; text into a number or date, or longer text than the
    target holds, a warning (some values will fail, not all). A field QuickBooks computes
    cannot be written to it."""
    found = []
    for index, rule in enumerate(rules):
        where = f"{group}[{index}]"
        source = (
            catalogue(entity, rule["quickbooks"]) if catalogue and rule.get("quickbooks") else None
        )
        if (
            source is not None
            and source.read_only
            and _flows(_rule_direction(rule, direction), SALESFORCE_TO_QUICKBOOKS)
            and (rule.get("salesforce") or "default" in rule)
        ):
            found.append(
                Problem(
                    f"{what}: {rule['quickbooks']} is computed by QuickBooks and cannot be "
                    "written; make the field flow to Salesforce only.",
                    rule["quickbooks"],
                    where=where,
                )
            )
        target = describe.get(rule.get("salesforce") or "") if describe else None
        if target is None or not rule.get("quickbooks") or "values" in rule:
            continue  # a value map translates, so the source type says nothing
        qbo_type = rule.get("type") or (source.type if source else None)
        sf_type = SALESFORCE_TYPE_COERCIONS.get(target.type)
        if not qbo_type or not sf_type:
            continue
        pair = f"{rule['quickbooks']} → {target.name}"
        kinds = (_KINDS.get(qbo_type), _KINDS.get(sf_type))
        if puts_wrong_kind(qbo_type, target.type):
            found.append(
                Problem(
                    f"{what}: {pair} puts a {kinds[0]} into a {kinds[1]} field.",
                    target.name,
                    where=where,
                )
            )
            continue
        rule_direction = _rule_direction(rule, direction)
        towards_sf = _flows(rule_direction, QUICKBOOKS_TO_SALESFORCE)
        for flows, (source_kind, target_kind) in (
            (towards_sf, kinds),
            (_flows(rule_direction, SALESFORCE_TO_QUICKBOOKS), kinds[::-1]),
        ):
            if flows and source_kind == "text" and target_kind != "text":
                found.append(
                    Problem(
                        f"{what}: {pair} puts text into a {target_kind} field; values that are "
                        f"not a {target_kind} will fail.",
                        target.name,
                        blocking=False,
                        where=where,
                    )
                )
        longest = source.max_length if source else None
        if (
            towards_sf
            and kinds[1] == "text"
            and longest
            and target.length
            and longest > target.length
        ):
            found.append(
                Problem(
                    f"{what}: {pair}: QuickBooks allows {longest} characters, Salesforce "
                    f"keeps {target.length}; longer values will fail.",
                    target.name,
                    blocking=False,
                    where=where,
                )
            )
    return found


def problems(
    spec: Mapping[str, Any],
    describe: Callable[[str], Describe | None],
    catalogue: QuickBooksCatalogue | None = None,
) -> list[Problem]:
    """What keeps this mapping from syncing. `describe(sobject)` gives an object's fields, or
    None when the org has no such object; `catalogue` (optional) the QuickBooks fields' types,
    for the type checks (a rule's own `type` is used without it)."""
    direction = spec["direction"]
    rules = list(spec.get("fields", []))
    entity = spec["quickbooks"]
    found = _salesforce_problems(
        spec["salesforce"],
        rules,
        direction,
        describe(spec["salesforce"]),
        spec.get("external_id"),
        {spec["external_id"]} if spec.get("external_id") else set(),
        f"{spec['quickbooks']} → {spec['salesforce']}",
    )
    lines = spec.get("lines")
    if lines:
        line_rules = list(lines.get("fields", []))
        found += _salesforce_problems(
            lines["salesforce"],
            line_rules,
            direction,
            describe(lines["salesforce"]),
            lines.get("external_id"),
            {lines["parent_field"], *([lines["external_id"]] if lines.get("external_id") else [])},
            f"Line items → {lines['salesforce']}",
            "lines.fields",
        )
        found += _parent_field_problems(lines, describe(lines["salesforce"]))
    found += _type_problems(
        entity,
        rules,
        direction,
        describe(spec["salesforce"]),
        catalogue,
        f"{entity} → {spec['salesforce']}",
    )
    if lines:
        found += _type_problems(
            f"{entity}.Line",
            list(lines.get("fields", [])),
            direction,
            describe(lines["salesforce"]),
            catalogue,
            f"Line items → {lines['salesforce']}",
            "lines.fields",
        )
    found += _quickbooks_problems(entity, rules, direction, bool(lines))
    found += _delete_flag_problems(spec, describe(spec["salesforce"]))
    return found


def _parent_field_problems(lines: Mapping[str, Any], describe: Describe | None) -> list[Problem]:
    name = lines["parent_field"]
    if describe is None or name in describe:
        return []
    return [
        Problem(
            f"Line items → {lines['salesforce']}: the parent lookup {name} does not exist.",
            name,
            where="lines.parent_field",
        )
    ]


def _delete_flag_problems(spec: Mapping[str, Any], describe: Describe | None) -> list[Problem]:
    """`on_delete: flag:<field>` ticks a checkbox: it has to be one."""
    policy = spec.get("on_delete") or "ignore"
    if not policy.startswith("flag:") or describe is None:
        return []
    name = policy.removeprefix("flag:")
    field = describe.get(name)
    if field is None:
        message = f"the delete flag {spec['salesforce']}.{name} does not exist."
    elif field.type != "boolean":
        message = (
            f"the delete flag {spec['salesforce']}.{name} is a {field.type} field, not a checkbox."
        )
    else:
        return []
    return [
        Problem(f"{spec['quickbooks']} → {spec['salesforce']}: {message}", name, where="on_delete")
    ]


# -- I/O ------------------------------------------------------------------------------------------


class DescribeUnavailable(Exception):
    """Salesforce cannot be asked (not connected or not answering): nothing can be checked."""


def salesforce_field(described: Mapping[str, Any]) -> SalesforceField:
    """The check's view of one field of a describe answer."""
    return SalesforceField(
        name=described["name"],
        label=described.get("label") or described["name"],
        type=described.get("type", ""),
        required_on_create=bool(
            described.get("createable")
            and not described.get("nillable")
            and not described.get("defaultedOnCreate")
            and described.get("type") != "boolean"
        ),
        external_id=bool(described.get("externalId")),
        length=described.get("length") or None,
        writable=bool(described.get("createable") or described.get("updateable")),
    )


def salesforce_describer(org: SalesforceOrg | None = None) -> Callable[[str], Describe | None]:
    """describe(sobject) for the connected org, from the connector's shared describe cache.
    Raises DescribeUnavailable when the org is not connected or does not answer."""
    org = org or db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None or org.status != ConnectionStatus.CONNECTED:
        raise DescribeUnavailable(
            "Salesforce is not connected, so the mapping's fields cannot be checked."
        )
    described: dict[str, Describe | None] = {}  # a page checks many mappings of few objects
    failed: list[DescribeUnavailable] = []

    def describe(sobject: str) -> Describe | None:
        if failed:
            # Salesforce did not answer: every other mapping of this page view is told so at
            # once instead of waiting for its own failed call.
            raise failed[0]
        if sobject not in described:
            try:
                fields = salesforce_schema.fields(sobject)
            except salesforce_schema.SchemaUnavailable as exc:
                failed.append(DescribeUnavailable(f"Salesforce did not answer: {exc}"))
                raise failed[0] from exc
            described[sobject] = (
                None if fields is None else {n: salesforce_field(f) for n, f in fields.items()}
            )
        return described[sobject]

    return describe


def page_describer() -> Callable[[str], Describe | None]:
    """One describer for a whole page, so each Salesforce object is described once; without a
    connected org it raises DescribeUnavailable when used, which `check` reports per mapping."""
    try:
        return salesforce_describer()
    except DescribeUnavailable as exc:
        message = str(exc)

        def unavailable(_sobject: str) -> Describe | None:
            raise DescribeUnavailable(message)

        return unavailable


def check(
    mapping: ObjectMapping,
    describe: Callable[[str], Describe | None] | None = None,
    catalogue: QuickBooksCatalogue | None = qbo_fields.catalogue,
) -> list[Problem]:
    """The mapping's problems against the connected org; not being able to ask Salesforce is
    itself a (blocking) problem."""
    return check_spec(mapping.spec, describe, catalogue)


def check_spec(
    spec: Mapping[str, Any],
    describe: Callable[[str], Describe | None] | None = None,
    catalogue: QuickBooksCatalogue | None = qbo_fields.catalogue,
) -> list[Problem]:
    """`check` for a mapping not stored yet (the editor's form as it stands)."""
    try:
        return problems(spec, describe or salesforce_describer(), catalogue)
    except DescribeUnavailable as exc:
        return [Problem(str(exc))]


def blocking(found: list[Problem]) -> list[Problem]:
    return [problem for problem in found if problem.blocking]
