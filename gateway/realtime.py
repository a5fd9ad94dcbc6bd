"""Real time per company and mapping: which changes the edges accept for syncing right away.

The state lives in the mapping's spec, so the sync-config file and the Real-Time Configuration
page edit the same thing: `realtime` is `true` (on for every company the mapping applies to,
including companies connected later), `false`, or the realm ids it is on for. A mapping's
`companies` (absent: every company) says which companies it applies to at all.
"""

from __future__ import annotations

from sqlalchemy import select

from .extensions import db
from .mapping import BOTH, QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from .models import Company, ObjectMapping


def applies_to(mapping: ObjectMapping, company: Company) -> bool:
    companies = mapping.spec.get("companies")
    return not companies or company.realm_id in companies


def _enabled_in_spec(spec: dict, realm_id: str) -> bool:
    realtime = spec.get("realtime", False)
    return realtime is True or (isinstance(realtime, list) and realm_id in realtime)


def is_enabled(mapping: ObjectMapping, company: Company) -> bool:
    return applies_to(mapping, company) and _enabled_in_spec(mapping.spec, company.realm_id)


def set_enabled(mapping: ObjectMapping, company: Company, enabled: bool) -> None:
    """Switch one company; the caller checks the mapping is complete and commits."""
    if enabled and not applies_to(mapping, company):
        raise ValueError(f"mapping {mapping.name!r} does not apply to company {company.realm_id}")
    companies = [c for c in _all_companies() if applies_to(mapping, c)]
    on = {c.realm_id for c in companies if is_enabled(mapping, c)}
    if enabled:
        on.add(company.realm_id)
    else:
        on.discard(company.realm_id)
    everyone = {c.realm_id for c in companies}
    # On for all of them reads back as `true`, so a company connected later is on too.
    realtime: bool | list[str] = True if on and on == everyone else sorted(on) or False
    mapping.apply_spec({**mapping.spec, "realtime": realtime})


def _all_companies() -> list[Company]:
    return list(db.session.execute(select(Company).order_by(Company.id)).scalars())


def _flows(direction: str) -> tuple[str, str]:
    if direction not in (QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS):
        raise ValueError(f"not a one-way direction: {direction!r}")
    return direction, BOTH


def line_object(mapping: ObjectMapping) -> str | None:
    """The Salesforce object of the mapping's line items (OpportunityLineItem), if any."""
    return (mapping.spec.get("lines") or {}).get("salesforce")


def _salesforce_objects(mapping: ObjectMapping) -> set[str]:
    # A changed line item is a change of its parent: its object syncs through the parent's
    # mapping (an OpportunityLineItem callout rewrites the Opportunity's invoice).
    return {mapping.salesforce_object} | ({line_object(mapping)} - {None})


def enabled_mappings(company: Company, direction: str, object_name: str) -> list[ObjectMapping]:
    """The mappings with real time on in `company` for changes of `object_name` flowing
    `direction` (a QuickBooks entity towards Salesforce, a Salesforce object towards QuickBooks:
    the mapping's own object, or the object of its line items)."""
    query = select(ObjectMapping).where(
        ObjectMapping.direction.in_(_flows(direction)),
        ObjectMapping.realtime.is_(True),
    )
    if direction == QUICKBOOKS_TO_SALESFORCE:
        query = query.where(ObjectMapping.quickbooks_type == object_name)
    rows = db.session.execute(query.order_by(ObjectMapping.id)).scalars()
    if direction == SALESFORCE_TO_QUICKBOOKS:
        rows = [row for row in rows if object_name in _salesforce_objects(row)]
    return [row for row in rows if is_enabled(row, company)]


def realtime_objects(direction: str) -> dict[int, frozenset[str]]:
    """Company id -> the objects whose changes flowing `direction` are synced in real time."""
    mappings = list(
        db.session.execute(
            select(ObjectMapping).where(
                ObjectMapping.direction.in_(_flows(direction)), ObjectMapping.realtime.is_(True)
            )
        ).scalars()
    )
    objects: dict[int, frozenset[str]] = {}
    for company in _all_companies():
        enabled = [m for m in mappings if is_enabled(m, company)]
        objects[company.id] = frozenset(
            {m.quickbooks_type for m in enabled}
            if direction == QUICKBOOKS_TO_SALESFORCE
            else {name for m in enabled for name in _salesforce_objects(m)}
        )
    return objects
