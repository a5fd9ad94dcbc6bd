"""Intuit's OAuth 2.0 endpoints: the authorize page, the token endpoint and revocation."""

from __future__ import annotations

import html
import math
import secrets
import string
from typing import TYPE_CHECKING

from flask import Flask, Response, g, jsonify, request

from .oauth import (
    authorize_page,
    bad_authorize_request,
    client_credentials,
    oauth_error,
    redirect_with,
)

if TYPE_CHECKING:
    from .quickbooks import FakeQuickBooks

AUTHORIZE_PATH = "/connect/oauth2"
TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"
REFRESH_TOKEN_LIFETIME = 8726400
_ALNUM = string.ascii_letters + string.digits


def access_token() -> str:
    """Intuit's access tokens are JWE strings of about 1 KB."""
    header = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0"
    iv, ciphertext, tag = (secrets.token_urlsafe(n) for n in (16, 680, 16))
    return f"{header}..{iv}.{ciphertext}.{tag}"


def refresh_token() -> str:
    return "AB11" + "".join(secrets.choice(_ALNUM) for _ in range(46))


def register(app: Flask, fake: FakeQuickBooks) -> None:
    @app.get(AUTHORIZE_PATH)
    def authorize() -> Response | tuple[str, int] | str:
        refused = bad_authorize_request()
        if refused:
            return refused
        args = request.args
        with fake.lock:
            companies = list(fake.store.companies.values())
        choices = "".join(
            f'<label><input type="radio" name="realmId" value="{c.realm_id}"'
            f"{' checked' if i == 0 else ''}> {html.escape(c.name)} ({c.realm_id})</label><br>"
            for i, c in enumerate(companies)
        )
        choices += (
            '<label><input type="radio" name="realmId" value="new"'
            f"{'' if companies else ' checked'}> Create a new sandbox company</label><br>"
        )
        hidden = {k: args.get(k, "") for k in ("client_id", "redirect_uri", "scope", "state")}
        return authorize_page("Connect to QuickBooks", AUTHORIZE_PATH, hidden, choices)

    @app.post(AUTHORIZE_PATH)
    def consent() -> Response | tuple[str, int]:
        form = request.form
        if not form.get("redirect_uri") or not form.get("client_id"):
            return "<p>Invalid request: missing client_id or redirect_uri", 400
        if form.get("decision") == "deny":
            return redirect_with(
                form["redirect_uri"], error="access_denied", state=form.get("state")
            )
        with fake.lock:
            realm = form.get("realmId", "new")
            if realm == "new":
                realm = fake.store.create_company().realm_id
            elif realm not in fake.store.companies:
                return "<p>Unknown company", 400
        code = fake.tokens.issue_code(
            realm, form["client_id"], form["redirect_uri"], form.get("scope", "")
        )
        return redirect_with(
            form["redirect_uri"], code=code, state=form.get("state"), realmId=realm
        )

    @app.post(TOKEN_PATH)
    def token() -> Response:
        client_id, _secret = client_credentials()
        if not client_id:
            return oauth_error(401, "invalid_client")
        grant_type = request.form.get("grant_type")
        if grant_type == "authorization_code":
            grant = fake.tokens.redeem_code(
                request.form.get("code", ""), client_id, request.form.get("redirect_uri"), None
            )
            if grant is None:
                return oauth_error(400, "invalid_grant")
        elif grant_type == "refresh_token":
            grant = fake.tokens.refresh(
                request.form.get("refresh_token", ""), fake.settings["rotate_refresh_tokens"]
            )
            if grant is None or grant.client_id not in ("", client_id):
                return oauth_error(400, "invalid_grant", "Incorrect or invalid refresh token")
        else:
            return oauth_error(400, "unsupported_grant_type")
        g.call.company = grant.subject
        lifetime = fake.settings["token_lifetime"]
        return jsonify(
            {
                "token_type": "bearer",
                "expires_in": math.ceil(lifetime),
                "refresh_token": grant.refresh_token,
                "x_refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
                "access_token": fake.tokens.new_access(grant, lifetime),
            }
        )

    @app.post(REVOKE_PATH)
    def revoke() -> Response:
        body = request.get_json(silent=True, force=True) or {}
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            return oauth_error(400, "invalid_request", "token is required")
        fake.tokens.revoke(token)
        return Response("", status=200)
