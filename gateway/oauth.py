"""Connecting from the browser: OAuth 2.0 authorization-code flows for QuickBooks (Intuit) and
Salesforce (web-server flow with PKCE), with requests-oauthlib.

Only a signed-in admin reaches these routes (the admin's guard covers /oauth/). `state` ties each
callback to the session that started it, so nobody can attach their company to our gateway by
sending an admin a callback link. Tokens are stored by gateway.connections, as `flask connect`
stores them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

import requests
from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
)
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from . import connections
from .connectors import ConnectorError
from .extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("oauth", __name__, url_prefix="/oauth")

QUICKBOOKS_SCOPES = ["com.intuit.quickbooks.accounting"]
# refresh_token: without it Salesforce hands out no refresh token and the connection dies with
# the session.
SALESFORCE_SCOPES = ["api", "refresh_token"]
CONNECTIONS_PAGE = "/admin/connections"
TOKEN_TIMEOUT_SECONDS = 60


class OAuthRefused(Exception):
    """The flow cannot finish; the message says what happened and what to do."""


def _callback_url(platform: str) -> str:
    # PUBLIC_URL, not the request's host: it must equal the redirect URI registered with the
    # platform, also behind a proxy.
    return f"{current_app.config['PUBLIC_URL']}/oauth/{platform}/callback"


SETTING_PREFIX = {"quickbooks": "QBO", "salesforce": "SF"}


def _missing_client(platform: str) -> str | None:
    prefix = SETTING_PREFIX[platform]
    config = current_app.config
    missing = [n for n in (f"{prefix}_CLIENT_ID", f"{prefix}_CLIENT_SECRET") if not config.get(n)]
    return ", ".join(missing) or None


def _start(platform: str, authorize_url: str, scopes: list[str], **extra: str):
    missing = _missing_client(platform)
    if missing:
        flash(f"Set {missing} in the gateway's environment and restart it first.", "error")
        return redirect(CONNECTIONS_PAGE)
    oauth = OAuth2Session(
        current_app.config[f"{SETTING_PREFIX[platform]}_CLIENT_ID"],
        redirect_uri=_callback_url(platform),
        scope=scopes,
    )
    url, state = oauth.authorization_url(authorize_url, **extra)
    session[f"oauth_state:{platform}"] = state
    return redirect(url)


def _check_callback(platform: str) -> str:
    """The authorization code, once the callback is known to answer our own request."""
    expected = session.pop(f"oauth_state:{platform}", None)
    received = request.args.get("state", "")
    if not expected or not hmac.compare_digest(expected.encode(), received.encode()):
        raise OAuthRefused(
            "This answer does not belong to a connection started from this session (its "
            "state does not match). Start again with the Connect button."
        )
    if request.args.get("error"):
        detail = request.args.get("error_description") or request.args["error"]
        raise OAuthRefused(f"The connection was not allowed: {detail}.")
    code = request.args.get("code")
    if not code:
        raise OAuthRefused("The answer carries no authorization code. Start again.")
    return code


def _fetch_token(oauth: OAuth2Session, token_url: str, code: str, **kwargs) -> dict:
    try:
        # The code goes in directly (not the callback URL): oauthlib would refuse a callback
        # over http, which `make run` on 127.0.0.1 legitimately uses.
        return oauth.fetch_token(token_url, code=code, timeout=TOKEN_TIMEOUT_SECONDS, **kwargs)
    except Warning as changed:
        # oauthlib raises (not warns) when the platform grants other scopes than asked; the
        # token is still good, and what we can do with it shows on the first call.
        token = getattr(changed, "token", None)
        if token is None:
            raise
        return dict(token)
    except OAuth2Error as exc:
        raise OAuthRefused(
            f"The token endpoint refused the code ({exc.error}: {exc.description}). Start again."
        ) from exc
    except requests.RequestException as exc:
        raise OAuthRefused(f"The token endpoint could not be reached ({exc}).") from exc


def _refused(platform: str, exc: Exception):
    log.warning("OAuth for %s refused: %s", platform, exc)
    page = render_template(
        "admin/error.html", title="Connection not made", message=str(exc), back=CONNECTIONS_PAGE
    )
    return page, 400


# -- QuickBooks -----------------------------------------------------------------------------------


@bp.post("/quickbooks/connect")
def quickbooks_connect():
    return _start("quickbooks", current_app.config["QBO_AUTH_URL"], QUICKBOOKS_SCOPES)


@bp.get("/quickbooks/callback")
def quickbooks_callback():
    config = current_app.config
    try:
        code = _check_callback("quickbooks")
        realm_id = request.args.get("realmId", "")
        if not realm_id.isdigit():
            raise OAuthRefused("Intuit's answer names no company (realmId). Start again.")
        oauth = OAuth2Session(config["QBO_CLIENT_ID"], redirect_uri=_callback_url("quickbooks"))
        token = _fetch_token(
            oauth,
            config["QBO_TOKEN_URL"],
            code,
            auth=HTTPBasicAuth(config["QBO_CLIENT_ID"], config["QBO_CLIENT_SECRET"]),
        )
    except OAuthRefused as exc:
        return _refused("quickbooks", exc)
    company = connections.save_quickbooks_company(realm_id, token)
    connections.commit_connected()
    try:
        name = connections.check_quickbooks(company)
    except ConnectorError as exc:
        db.session.rollback()
        flash(f"Connected company {realm_id}, but reading its name failed: {exc}", "warn")
    else:
        flash(f"Connected QuickBooks company {name} ({realm_id}).", "ok")
    return redirect(CONNECTIONS_PAGE)


# -- Salesforce -----------------------------------------------------------------------------------


def _pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) per RFC 7636."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@bp.post("/salesforce/connect")
def salesforce_connect():
    verifier, challenge = _pkce_pair()
    session["oauth_pkce:salesforce"] = verifier
    return _start(
        "salesforce",
        current_app.config["SF_LOGIN_URL"] + "/services/oauth2/authorize",
        SALESFORCE_SCOPES,
        code_challenge=challenge,
        code_challenge_method="S256",
    )


@bp.get("/salesforce/callback")
def salesforce_callback():
    config = current_app.config
    verifier = session.pop("oauth_pkce:salesforce", None)
    try:
        code = _check_callback("salesforce")
        oauth = OAuth2Session(config["SF_CLIENT_ID"], redirect_uri=_callback_url("salesforce"))
        token = _fetch_token(
            oauth,
            config["SF_LOGIN_URL"] + "/services/oauth2/token",
            code,
            include_client_id=True,
            client_secret=config["SF_CLIENT_SECRET"],
            code_verifier=verifier,
        )
        if not token.get("refresh_token"):
            raise OAuthRefused(
                'Salesforce gave no refresh token: allow the refresh_token scope ("Perform '
                "requests at any time\") in the app's OAuth settings, then connect again."
            )
        org = connections.save_salesforce_org(token)
    except (OAuthRefused, connections.ConnectionProblem) as exc:
        db.session.rollback()
        return _refused("salesforce", exc)
    connections.commit_connected()
    flash(f"Connected Salesforce org {org.org_id} at {org.instance_url}.", "ok")
    return redirect(CONNECTIONS_PAGE)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
