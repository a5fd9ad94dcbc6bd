"""Is an object mapping complete enough to sync? The one check the Real-Time Configuration page
and the mappings pages share; the server runs it before switching real time on.

`problems(spec, describe)` is pure: given the mapping and the Salesforce describe of its objects
it lists what is missing. `check(mapping)` fetches the describes (cached, shared by every process)
and calls it. An incomplete mapping can be saved; it cannot be switched on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from . import queue
from .connectors import ConnectorError
from .connectors.salesforce import SalesforceCallError, SalesforceClient
from .extensions import db
from .mapping import (
    BOTH,
    QUICKBOOKS_TO_SALESFORCE,
    SALESFORCE_TO_QUICKBOOKS,
    SALESFORCE_TYPE_COERCIONS,
)
from .models import ConnectionStatus, ObjectMapping, SalesforceOrg

DESCRIBE_TTL_SECONDS = 300.0

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


@dataclass(frozen=True)
class SalesforceField:
    name: str
    label: str
    type: str
    required_on_create: bool  # createable, not nillable, no default
    external_id: bool
    length: int | None


Describe = Mapping[str, SalesforceField]  # field name -> field, of one object


@dataclass(frozen=True)
class QuickBooksField:
    """What a QuickBooks field catalogue knows of one field: its type (one of
    gateway.mapping.COERCIONS) and, for text, its maximum length."""

    type: str
    max_length: int | None = None


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
) -> list[Problem]:
    if describe is None:
        return [Problem(f"{what}: the Salesforce object {sobject} does not exist in the org.")]
    problems = []
    for rule in rules:
        name = rule.get("salesforce")
        if name and name not in describe:
            problems.append(
                Problem(f"{what}: Salesforce field {sobject}.{name} does not exist.", name)
            )
    if external_id:
        field = describe.get(external_id)
        if field is None:
            problems.append(
                Problem(f"{what}: external-id field {sobject}.{external_id} does not exist.")
            )
        elif not field.external_id:
            problems.append(
                Problem(
                    f"{what}: {sobject}.{external_id} is not marked External ID in Salesforce.",
                    external_id,
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
) -> list[Problem]:
    """A date into a number is an error; text into a number or date, or longer text than the
    target holds, a warning (some values will fail, not all)."""
    if describe is None:
        return []
    found = []
    for rule in rules:
        target = describe.get(rule.get("salesforce") or "")
        if target is None or not rule.get("quickbooks"):
            continue
        source = catalogue(entity, rule["quickbooks"]) if catalogue else None
        qbo_type = rule.get("type") or (source.type if source else None)
        sf_type = SALESFORCE_TYPE_COERCIONS.get(target.type)
        if not qbo_type or not sf_type:
            continue
        pair = f"{rule['quickbooks']} → {target.name}"
        kinds = (_KINDS.get(qbo_type), _KINDS.get(sf_type))
        if "text" not in kinds and kinds[0] != kinds[1]:
            found.append(
                Problem(f"{what}: {pair} puts a {kinds[0]} into a {kinds[1]} field.", target.name)
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
        )
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
        )
    found += _quickbooks_problems(entity, rules, direction, bool(lines))
    return found


# -- I/O ------------------------------------------------------------------------------------------


class DescribeUnavailable(Exception):
    """Salesforce cannot be asked (not connected or not answering): nothing can be checked."""


def describe_fields(describe: Mapping[str, Any]) -> dict[str, dict]:
    """What the check keeps of a describe answer (it is cached as this, JSON-ready)."""
    return {
        f["name"]: {
            "name": f["name"],
            "label": f.get("label") or f["name"],
            "type": f.get("type", ""),
            "required_on_create": bool(
                f.get("createable")
                and not f.get("nillable")
                and not f.get("defaultedOnCreate")
                and f.get("type") != "boolean"
            ),
            "external_id": bool(f.get("externalId")),
            "length": f.get("length") or None,
        }
        for f in describe.get("fields", [])
    }


def describe_cache_key(org_id: str, sobject: str) -> str:
    return f"sf-describe-fields:{org_id}:{sobject}"


def salesforce_describer(org: SalesforceOrg | None = None) -> Callable[[str], Describe | None]:
    """describe(sobject) for the connected org, cached for a few minutes in the shared cache.
    Raises DescribeUnavailable when the org is not connected or does not answer."""
    org = org or db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None or org.status != ConnectionStatus.CONNECTED:
        raise DescribeUnavailable(
            "Salesforce is not connected, so the mapping's fields cannot be checked."
        )
    client: SalesforceClient | None = None
    cache = queue.backend()

    described: dict[str, Describe | None] = {}  # a page checks many mappings of few objects
    failed: list[DescribeUnavailable] = []

    def describe(sobject: str) -> Describe | None:
        if failed:
            # Salesforce did not answer: every other mapping of this page view is told so at
            # once instead of waiting for its own failed call.
            raise failed[0]
        if sobject not in described:
            try:
                described[sobject] = fetch(sobject)
            except DescribeUnavailable as exc:
                failed.append(exc)
                raise
        return described[sobject]

    def fetch(sobject: str) -> Describe | None:
        nonlocal client
        key = describe_cache_key(org.org_id, sobject)
        fields = cache.cache_get(key)
        if fields is None:
            client = client or SalesforceClient(org)
            try:
                answer = client.call(
                    f"describe {sobject}", lambda sf: getattr(sf, sobject).describe()
                )
            except SalesforceCallError as exc:
                if exc.status == 404:
                    fields = {}
                else:
                    raise DescribeUnavailable(f"Salesforce did not answer: {exc}") from exc
            except ConnectorError as exc:
                raise DescribeUnavailable(f"Salesforce did not answer: {exc}") from exc
            else:
                fields = describe_fields(answer)
            cache.cache_set(key, fields, DESCRIBE_TTL_SECONDS)
        if not fields:
            return None
        return {name: SalesforceField(**field) for name, field in fields.items()}

    return describe


def check(
    mapping: ObjectMapping,
    describe: Callable[[str], Describe | None] | None = None,
    catalogue: QuickBooksCatalogue | None = None,
) -> list[Problem]:
    """The mapping's problems against the connected org; not being able to ask Salesforce is
    itself a (blocking) problem."""
    try:
        return problems(mapping.spec, describe or salesforce_describer(), catalogue)
    except DescribeUnavailable as exc:
        return [Problem(str(exc))]


def blocking(found: list[Problem]) -> list[Problem]:
    return [problem for problem in found if problem.blocking]
