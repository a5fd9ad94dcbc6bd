"""The set-up page: the first page until both connections exist (the home page, the dashboard,
sends a gateway with nothing connected here)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from gateway.extensions import db
from gateway.models import Company, ConnectionStatus, ObjectMapping, SalesforceOrg
from gateway.qbo_entities import WEBHOOK_ENTITIES

from . import bp
from .rendering import render_page

# What Intuit's webhook settings must send for the gateway to see every change (Void included:
# a voided invoice otherwise stays open in Salesforce).
WEBHOOK_OPERATIONS = ("Create", "Update", "Delete", "Merge", "Void")


@dataclass
class Connected:
    companies: int
    salesforce: bool

    @property
    def both(self) -> bool:
        return self.companies > 0 and self.salesforce


def connected() -> Connected:
    companies = db.session.scalar(
        select(func.count())
        .select_from(Company)
        .where(Company.status == ConnectionStatus.CONNECTED)
    )
    org_status = db.session.scalar(select(SalesforceOrg.status).limit(1))
    return Connected(companies or 0, org_status == ConnectionStatus.CONNECTED)


def _next_step(config, state: Connected, mapped: list[str], realtime_on: bool) -> tuple[str, str]:
    """(what to do next, where) — the first thing missing, in the order set-up needs it."""
    if not (config["QBO_CLIENT_ID"] and config["QBO_CLIENT_SECRET"]):
        return "Set QBO_CLIENT_ID and QBO_CLIENT_SECRET (your Intuit app's keys), restart.", ""
    if not config["QBO_WEBHOOK_VERIFIER_TOKENS"]:
        return "Set QBO_WEBHOOK_VERIFIER_TOKENS to your Intuit app's verifier token.", ""
    if not state.companies:
        return "Connect a QuickBooks company.", "/admin/connections"
    if not (config["SF_CLIENT_ID"] and config["SF_CLIENT_SECRET"]):
        return "Set SF_CLIENT_ID and SF_CLIENT_SECRET (your Salesforce app's keys), restart.", ""
    if not state.salesforce:
        return "Connect the Salesforce org.", "/admin/connections"
    if not mapped:
        return (
            "Create the object and field mappings (or import a file with "
            "`flask sync-config import`).",
            "/admin/mappings",
        )
    if not realtime_on:
        return "Switch real time on for the mapped objects.", "/admin/realtime"
    return "Set-up is complete. Changes now sync in real time.", "/admin/"


@bp.get("/setup")
def setup():
    config = current_app.config
    state = connected()
    mapped = sorted(set(db.session.scalars(select(ObjectMapping.quickbooks_type))))
    realtime_on = bool(
        db.session.scalar(select(func.count()).where(ObjectMapping.realtime.is_(True)))
    )
    public_url = config["PUBLIC_URL"]
    step, where = _next_step(config, state, mapped, realtime_on)
    return render_page(
        "admin/setup.html",
        title="Setup",
        state=state,
        public_url=public_url,
        public_is_local=bool(config["OAUTH_ALLOW_HTTP"]) or "127.0.0.1" in public_url,
        webhook_url=f"{public_url}/webhooks/quickbooks",
        callout_url=f"{public_url}/callouts/salesforce",
        callback_urls=[f"{public_url}/oauth/{p}/callback" for p in ("quickbooks", "salesforce")],
        webhook_entities=mapped or list(WEBHOOK_ENTITIES),
        entities_are_mapped=bool(mapped),
        webhook_operations=WEBHOOK_OPERATIONS,
        verifier_tokens=len(config["QBO_WEBHOOK_VERIFIER_TOKENS"]),
        callout_secrets=len(config["SF_CALLOUT_SECRETS"]),
        next_step=step,
        next_where=where,
    )
