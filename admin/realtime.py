"""/admin/realtime, the Real-Time Configuration page: per company, one checkbox per mapped
QuickBooks object; Save applies. An incomplete mapping cannot be switched on: the page says
what is missing next to its checkbox and the server refuses it as well."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import redirect, request
from sqlalchemy import select

from gateway import catch_up, mapping_check, realtime
from gateway.errors import error_response
from gateway.extensions import db
from gateway.models import Company, ObjectMapping

from . import bp
from .rendering import render_page, wants_fragment

PAGE = "/admin/realtime"


@dataclass
class Switch:
    company: Company
    mapping: ObjectMapping
    enabled: bool
    problems: list[mapping_check.Problem]
    refused: bool = False  # asked to switch on while incomplete

    @property
    def key(self) -> str:
        return f"{self.company.id}:{self.mapping.id}"

    @property
    def can_enable(self) -> bool:
        return not mapping_check.blocking(self.problems)


@dataclass
class CompanySwitches:
    company: Company
    switches: list[Switch] = field(default_factory=list)


def _switches() -> list[CompanySwitches]:
    companies = db.session.execute(select(Company).order_by(Company.id)).scalars().all()
    mappings = (
        db.session.execute(
            select(ObjectMapping).order_by(ObjectMapping.quickbooks_type, ObjectMapping.name)
        )
        .scalars()
        .all()
    )
    describe = mapping_check.page_describer()
    problems = {m.id: mapping_check.check(m, describe) for m in mappings}
    return [
        CompanySwitches(
            company,
            [
                Switch(company, m, realtime.is_enabled(m, company), problems[m.id])
                for m in mappings
                if realtime.applies_to(m, company)
            ],
        )
        for company in companies
    ]


@dataclass
class CatchUp:
    """Changes announced while an object's real time was off, that can be synced now."""

    company: Company
    entity: str
    waiting: int

    @property
    def value(self) -> str:
        return f"{self.company.id}:{self.entity}"


def _render(
    groups: list[CompanySwitches],
    status: int = 200,
    saved: list[str] | None = None,
    catch_ups: list[CatchUp] | None = None,
    caught_up: str | None = None,
):
    page = render_page(
        "admin/realtime.html",
        block="realtime",
        title="Real-Time Configuration",
        groups=groups,
        saved=saved,
        catch_ups=catch_ups or [],
        caught_up=caught_up,
        refused=any(s.refused for g in groups for s in g.switches),
    )
    return page, status


@bp.get("/realtime")
def realtime_page():
    return _render(_switches())


@bp.post("/realtime")
def save_realtime():
    groups = _switches()
    shown = set(request.form.getlist("shown"))
    wanted = set(request.form.getlist("on"))
    changes = []
    for group in groups:
        for switch in group.switches:
            if switch.key not in shown:
                continue  # added since the page was loaded: left as it is
            want = switch.key in wanted
            if want and not switch.enabled and not switch.can_enable:
                switch.refused = True
            elif want != switch.enabled:
                changes.append((switch, want))
    if any(s.refused for g in groups for s in g.switches):
        db.session.rollback()
        return _render(groups, 422)
    saved = []
    for switch, want in changes:
        realtime.set_enabled(switch.mapping, switch.company, want)
        switch.enabled = want
        company = switch.company.name or switch.company.realm_id
        saved.append(f"{switch.mapping.quickbooks_type} {'on' if want else 'off'} for {company}")
    db.session.commit()
    if not wants_fragment():
        return redirect(PAGE)
    switched_on = {(s.company.id, s.mapping.quickbooks_type): s.company for s, on in changes if on}
    catch_ups = [
        CatchUp(company, entity, catch_up.waiting(company, entity))
        for (_id, entity), company in switched_on.items()
    ]
    return _render(groups, saved=saved, catch_ups=[c for c in catch_ups if c.waiting])


@bp.post("/realtime/catch-up")
def catch_up_realtime():
    company_id, _, entity = request.form.get("catch_up", "").partition(":")
    company = db.session.get(Company, int(company_id)) if company_id.isdigit() else None
    groups = _switches()
    enabled = {
        (s.company.id, s.mapping.quickbooks_type) for g in groups for s in g.switches if s.enabled
    }
    if company is None or (company.id, entity) not in enabled:
        return error_response(
            409,
            "real_time_off",
            "Switch real time on for this object first; then its changes can be caught up.",
        )
    queued = catch_up.catch_up(company, entity)
    message = (
        f"Queued {queued} change{'s' if queued != 1 else ''} to {entity} in "
        f"{company.name or company.realm_id} for syncing."
    )
    if not wants_fragment():
        return redirect(PAGE)
    return _render(groups, caught_up=message)
