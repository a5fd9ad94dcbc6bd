"""/admin/connections: who the gateway is connected to, how healthy each connection is, and
the buttons to test, disconnect and reconnect."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, flash, redirect
from sqlalchemy import select

from gateway import connections
from gateway.connectors import ConnectorError
from gateway.connectors.last_success import last_success
from gateway.extensions import db
from gateway.models import Company, ConnectionStatus, SalesforceOrg, utcnow

from . import bp
from .rendering import render_page, wants_fragment

PAGE = "/admin/connections"
NOT_REVOKED = "Could not revoke the tokens, so nothing was changed"


def mask(secret: str | None) -> str:
    """Enough of a token to tell two apart, never enough to use it."""
    if not secret:
        return "none stored"
    if len(secret) <= 12:
        return "•" * 8
    return f"{secret[:4]}…{secret[-4:]}"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:  # SQLite keeps naive datetimes
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return moment


@dataclass
class Health:
    ok: bool
    label: str
    detail: str | None
    last_success: datetime | None


def _health(row: Company | SalesforceOrg, platform: str, account_id: str) -> Health:
    ok = row.status == ConnectionStatus.CONNECTED and bool(row.refresh_token_encrypted)
    label = "Connected" if ok else "Reconnect needed"
    return Health(ok, label, row.status_detail, last_success(platform, account_id))


def _page_context() -> dict:
    companies = db.session.execute(select(Company).order_by(Company.id)).scalars().all()
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    config = current_app.config
    return {
        "title": "Connections",
        "companies": [
            (c, _health(c, "quickbooks", c.realm_id), _aware(c.access_token_expires_at))
            for c in companies
        ],
        "org": org,
        "org_health": _health(org, "salesforce", org.org_id) if org else None,
        "mask": mask,
        "aware": _aware,
        "quickbooks_ready": bool(config["QBO_CLIENT_ID"] and config["QBO_CLIENT_SECRET"]),
        "salesforce_ready": bool(config["SF_CLIENT_ID"] and config["SF_CLIENT_SECRET"]),
        "now": utcnow(),
    }


@bp.get("/connections")
def connections_page():
    return render_page("admin/connections.html", **_page_context())


def _company(company_id: int) -> Company:
    return db.session.get(Company, company_id) or abort(404)


def _org() -> SalesforceOrg:
    return db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none() or abort(404)


def _after_action():
    """HTMX swaps the refreshed block in; a plain form post is redirected back to the page
    (so reloading it does not repeat the action)."""
    if wants_fragment():
        return render_page("admin/connections.html", block="connections", **_page_context())
    return redirect(PAGE)


def _report(action: Callable[[], str], failure: str, errors: tuple[type[Exception], ...]) -> None:
    """Run one action and flash its outcome; a failure changes nothing."""
    try:
        message = action()
    except errors as exc:
        db.session.rollback()
        flash(f"{failure}: {exc}", "error")
    else:
        flash(message, "ok")


@bp.post("/connections/quickbooks/<int:company_id>/test")
def test_quickbooks(company_id: int):
    company = _company(company_id)
    _report(
        lambda: f"QuickBooks company {connections.check_quickbooks(company)} answered.",
        f"QuickBooks company {company.realm_id} did not answer",
        (ConnectorError,),
    )
    return _after_action()


@bp.post("/connections/quickbooks/<int:company_id>/default")
def default_quickbooks(company_id: int):
    chosen = _company(company_id)
    for company in db.session.execute(select(Company)).scalars():
        company.is_default = company.id == chosen.id
    db.session.commit()
    flash(f"{chosen.name or chosen.realm_id} is now the default company.", "ok")
    return _after_action()


@bp.post("/connections/quickbooks/<int:company_id>/disconnect")
def disconnect_quickbooks(company_id: int):
    company = _company(company_id)

    def disconnect() -> str:
        connections.disconnect_quickbooks(company)
        name = company.name or company.realm_id
        return f"Disconnected {name}. Its links are kept; connect it again to resume."

    _report(disconnect, NOT_REVOKED, (connections.ConnectionProblem,))
    return _after_action()


@bp.post("/connections/salesforce/test")
def test_salesforce():
    org = _org()

    def check() -> str:
        remaining = connections.check_salesforce(org).get("Remaining")
        left = f"; {remaining} API requests left today." if remaining is not None else "."
        return f"Salesforce org {org.org_id} answered{left}"

    _report(check, f"Salesforce org {org.org_id} did not answer", (ConnectorError,))
    return _after_action()


@bp.post("/connections/salesforce/disconnect")
def disconnect_salesforce():
    org = _org()

    def disconnect() -> str:
        connections.disconnect_salesforce(org)
        return f"Disconnected Salesforce org {org.org_id}. Connect it again to resume."

    _report(disconnect, NOT_REVOKED, (connections.ConnectionProblem,))
    return _after_action()
