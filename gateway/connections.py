"""Storing, checking and removing the connections to QuickBooks companies and the Salesforce
org. Shared by the OAuth pages (gateway.oauth), the admin and `flask connect`, so a connection
made any of these ways is stored the same way and releases the events that waited for it.
"""

from __future__ import annotations

import logging

import requests
from flask import current_app
from requests.auth import HTTPBasicAuth
from sqlalchemy import select

from . import inbox, queue
from .connectors.last_success import note_success
from .connectors.quickbooks import QuickBooksClient
from .connectors.quickbooks import store_token as store_quickbooks_token
from .connectors.salesforce import SalesforceClient
from .connectors.salesforce import store_token as store_salesforce_token
from .extensions import db
from .inbound import callout_routing
from .models import Company, ConnectionStatus, Event, EventStatus, SalesforceOrg
from .sync import RECONNECT_PREFIX

log = logging.getLogger(__name__)

DISCONNECTED_DETAIL = "disconnected from the admin; connect again to resume"


class ConnectionProblem(Exception):
    """A connection cannot be stored or checked; the message says what to do."""


# -- storing --------------------------------------------------------------------------------------


def save_quickbooks_company(realm_id: str, token: dict, default: bool | None = None) -> Company:
    """Create or update the company from a token answer (not committed)."""
    company = db.session.execute(
        select(Company).where(Company.realm_id == realm_id)
    ).scalar_one_or_none()
    if company is None:
        company = Company(realm_id=realm_id)
        db.session.add(company)
    store_quickbooks_token(company, token)
    if default is not None:
        company.is_default = default
    company.status = ConnectionStatus.CONNECTED
    company.status_detail = None
    return company


def salesforce_identity(token: dict) -> tuple[str, str]:
    """(org id, user id) from the token answer's identity URL .../id/<org id>/<user id>."""
    parts = token.get("id", "").rstrip("/").split("/")
    if len(parts) < 3 or parts[-3] != "id" or not token.get("instance_url"):
        raise ConnectionProblem("Salesforce's token answer has no identity URL or instance_url")
    return parts[-2], parts[-1]


def save_salesforce_org(token: dict) -> SalesforceOrg:
    """Create or update the one org from a token answer (not committed)."""
    org_id, user_id = salesforce_identity(token)
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    if org is None:
        org = SalesforceOrg(org_id=org_id)
        db.session.add(org)
    elif org.org_id != org_id:
        raise ConnectionProblem(
            f"The gateway is connected to Salesforce org {org.org_id}; this sign-in was for "
            f"org {org_id}. Sign in to org {org.org_id}, or disconnect it first."
        )
    store_salesforce_token(org, token)
    org.user_id = user_id
    org.status = ConnectionStatus.CONNECTED
    org.status_detail = None
    return org


def commit_connected() -> tuple[int, int]:
    """Commit a (re)connection, then retry the events that failed only because a connection
    was down, and hand callouts that waited for a default company to it if there is one now.
    Returns (sync keys scheduled, callout records handed on)."""
    db.session.commit()
    ids = db.session.execute(
        select(Event.id).where(
            Event.status == EventStatus.FAILED, Event.reason.startswith(RECONNECT_PREFIX)
        )
    ).scalars()
    keys = inbox.retry(list(ids))
    for key in sorted(keys):
        queue.schedule_sync(key)
    # A company connected now may be the default company that waiting callouts need.
    return len(keys), callout_routing.adopt_waiting_callouts()


# -- checking -------------------------------------------------------------------------------------


def check_quickbooks(company: Company) -> str:
    """One cheap call (CompanyInfo); keeps the company's name current. Returns the name."""
    info = QuickBooksClient(company).read("CompanyInfo", company.realm_id)
    company.name = info.get("CompanyName") or info.get("LegalName") or company.name
    db.session.commit()
    note_success("quickbooks", company.realm_id)
    return company.name or company.realm_id


def check_salesforce(org: SalesforceOrg) -> dict:
    """One cheap call (the org's API limits). Returns the daily API request allowance."""
    client = SalesforceClient(org)
    limits = client.call("limits", lambda sf: sf.limits())
    note_success("salesforce", org.org_id)
    return limits.get("DailyApiRequests", {})


# -- removing -------------------------------------------------------------------------------------


def _revoke(url: str, **kwargs) -> None:
    try:
        response = requests.post(url, timeout=30, **kwargs)
    except requests.RequestException as exc:
        raise ConnectionProblem(f"the revoke endpoint is unreachable: {exc}") from exc
    if response.status_code >= 400:
        # A token that is already invalid cannot be revoked; forgetting it is still right.
        log.warning("revoke at %s answered %s", url, response.status_code)


def disconnect_quickbooks(company: Company) -> None:
    """Revoke the company's tokens at Intuit and forget them. The company and its record links
    stay, so reconnecting later does not create duplicates; its events wait as `reconnect
    needed` until then."""
    config = current_app.config
    token = company.refresh_token or company.access_token
    if token:
        _revoke(
            config["QBO_REVOKE_URL"],
            json={"token": token},
            headers={"Accept": "application/json"},
            auth=HTTPBasicAuth(config["QBO_CLIENT_ID"], config["QBO_CLIENT_SECRET"]),
        )
    _forget_tokens(company)


def disconnect_salesforce(org: SalesforceOrg) -> None:
    """Revoke the org's refresh token (which ends its sessions too) and forget the tokens."""
    token = org.refresh_token or org.access_token
    if token:
        revoke_url = current_app.config["SF_LOGIN_URL"] + "/services/oauth2/revoke"
        _revoke(revoke_url, data={"token": token})
    _forget_tokens(org)


def _forget_tokens(row: Company | SalesforceOrg) -> None:
    row.access_token = None
    row.refresh_token = None
    if isinstance(row, Company):
        row.access_token_expires_at = None  # so the next call tries a refresh, and is refused
    row.status = ConnectionStatus.RECONNECT_NEEDED
    row.status_detail = DISCONNECTED_DETAIL
    db.session.commit()
