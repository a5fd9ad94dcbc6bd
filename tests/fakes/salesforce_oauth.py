"""Salesforce's OAuth 2.0 endpoints (web-server flow, refresh, revoke)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
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
    from .salesforce import FakeSalesforce

AUTHORIZE_PATH = "/services/oauth2/authorize"
TOKEN_PATH = "/services/oauth2/token"
REVOKE_PATH = "/services/oauth2/revoke"
DEFAULT_SCOPE = "api refresh_token"


def access_token(org_id: str) -> str:
    return f"{org_id[:15]}!AQ{secrets.token_urlsafe(72)}"


def refresh_token() -> str:
    return "5Aep861" + secrets.token_urlsafe(60)


def register(app: Flask, fake: FakeSalesforce) -> None:
    @app.get(AUTHORIZE_PATH)
    def authorize() -> Response | tuple[str, int] | str:
        refused = bad_authorize_request()
        if refused:
            return refused
        args = request.args
        keys = (
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        )
        hidden = {k: args.get(k, "") for k in keys}
        return authorize_page(
            "Allow Access?",
            AUTHORIZE_PATH,
            hidden,
            "<p>The gateway is asking to access your Salesforce data.</p>",
        )

    @app.post(AUTHORIZE_PATH)
    def consent() -> Response | tuple[str, int]:
        form = request.form
        if not form.get("redirect_uri") or not form.get("client_id"):
            return "<p>error=invalid_request", 400
        if form.get("decision") == "deny":
            return redirect_with(
                form["redirect_uri"],
                error="access_denied",
                error_description="end-user denied authorization",
                state=form.get("state"),
            )
        with fake.lock:
            org = fake.store.org or fake.new_org()
        code = fake.tokens.issue_code(
            org.org_id,
            form["client_id"],
            form["redirect_uri"],
            form.get("scope") or DEFAULT_SCOPE,
            form.get("code_challenge") or None,
            form.get("code_challenge_method") or "plain",
        )
        return redirect_with(form["redirect_uri"], code=code, state=form.get("state"))

    @app.post(TOKEN_PATH)
    def token() -> Response:
        client_id, client_secret = client_credentials()
        if not client_id:
            return oauth_error(400, "invalid_client_id", "client identifier invalid")
        grant_type = request.form.get("grant_type")
        rotate = False
        if grant_type == "authorization_code":
            grant = fake.tokens.redeem_code(
                request.form.get("code", ""),
                client_id,
                request.form.get("redirect_uri"),
                request.form.get("code_verifier"),
            )
            if grant is None:
                return oauth_error(400, "invalid_grant", "authentication failure")
        elif grant_type == "refresh_token":
            rotate = fake.settings["rotate_refresh_tokens"]
            grant = fake.tokens.refresh(request.form.get("refresh_token", ""), rotate)
            if grant is None or grant.client_id not in ("", client_id):
                return oauth_error(400, "invalid_grant", "expired access/refresh token")
        else:
            return oauth_error(400, "unsupported_grant_type", "grant type not supported")
        with fake.lock:
            org = fake.store.org
            if org is None or org.org_id != grant.subject:
                return oauth_error(400, "invalid_grant", "expired access/refresh token")
        g.call.company = org.org_id
        issued_at = str(int(time.time() * 1000))
        identity = f"https://login.salesforce.com/id/{org.org_id}/{org.user_id}"
        mac = hmac.new(client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256)
        payload = {
            "access_token": fake.tokens.new_access(grant, fake.settings["token_lifetime"]),
            "instance_url": fake.url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(mac.digest()).decode(),
            "scope": grant.scope or DEFAULT_SCOPE,
        }
        if grant_type == "authorization_code" or rotate:
            payload["refresh_token"] = grant.refresh_token
        return jsonify(payload)

    @app.post(REVOKE_PATH)
    def revoke() -> Response:
        token = request.form.get("token") or request.args.get("token")
        if not token or not fake.tokens.revoke(token):
            return oauth_error(400, "unsupported_token_type", "this token type is not supported")
        return Response("", status=200)
