"""/admin/realtime, the Real-Time Configuration page: per company, one checkbox per mapped
QuickBooks object; Save applies. An incomplete mapping cannot be switched on: the page says
what is missing next to its checkbox and the server refuses it as well."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import redirect, request
from sqlalchemy import select

from gateway import mapping_check, realtime
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
    describe = _describer()
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


def _describer():
    """One describer for the whole page, so each Salesforce object is described once."""
    try:
        return mapping_check.salesforce_describer()
    except mapping_check.DescribeUnavailable as exc:
        message = str(exc)

        def unavailable(_sobject: str):
            raise mapping_check.DescribeUnavailable(message)

        return unavailable


def _render(
    groups: list[CompanySwitches],
    status: int = 200,
    saved: list[str] | None = None,
    switched_on: bool = False,
):
    page = render_page(
        "admin/realtime.html",
        block="realtime",
        title="Real-Time Configuration",
        groups=groups,
        saved=saved,
        switched_on=switched_on,
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
    return _render(groups, saved=saved, switched_on=any(want for _switch, want in changes))
