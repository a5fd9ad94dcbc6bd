"""Token bookkeeping and the authorize page shared by both fakes' OAuth endpoints."""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import Response, jsonify, request

CODE_LIFETIME = 600


@dataclass
class Grant:
    """One connection: the refresh token in force and everything issued from it."""

    subject: str  # realm id or org id
    client_id: str
    scope: str
    refresh_token: str
    revoked: bool = False
    access_tokens: set[str] = field(default_factory=set)


class TokenStore:
    def __init__(self, make_access: Callable[[], str], make_refresh: Callable[[], str]) -> None:
        self._make_access, self._make_refresh = make_access, make_refresh
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._codes: dict[str, dict] = {}
            self._by_refresh: dict[str, Grant] = {}
            self._access: dict[str, tuple[Grant, float]] = {}

    def new_grant(self, subject: str, client_id: str = "", scope: str = "") -> Grant:
        grant = Grant(subject, client_id, scope, self._make_refresh())
        with self._lock:
            self._by_refresh[grant.refresh_token] = grant
        return grant

    def issue_code(
        self,
        subject: str,
        client_id: str,
        redirect_uri: str,
        scope: str,
        code_challenge: str | None = None,
        method: str = "plain",
    ) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = {
                "subject": subject,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "challenge": code_challenge,
                "method": method,
                "expires": time.time() + CODE_LIFETIME,
            }
        return code

    def redeem_code(
        self, code: str, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> Grant | None:
        with self._lock:
            issued = self._codes.pop(code, None)  # codes are single-use
        if issued is None or issued["expires"] < time.time():
            return None
        if issued["client_id"] and issued["client_id"] != client_id:
            return None
        if redirect_uri is not None and redirect_uri != issued["redirect_uri"]:
            return None
        if issued["challenge"] and not _pkce_ok(issued["challenge"], issued["method"], verifier):
            return None
        return self.new_grant(issued["subject"], client_id, issued["scope"])

    def refresh(self, refresh_token: str, rotate: bool) -> Grant | None:
        with self._lock:
            grant = self._by_refresh.get(refresh_token)
            if grant is None or grant.revoked:
                return None
            if rotate:
                del self._by_refresh[refresh_token]
                grant.refresh_token = self._make_refresh()
                self._by_refresh[grant.refresh_token] = grant
            return grant

    def new_access(self, grant: Grant, lifetime: float) -> str:
        token = self._make_access()
        with self._lock:
            grant.access_tokens.add(token)
            self._access[token] = (grant, time.time() + lifetime)
        return token

    def check_access(self, token: str | None) -> tuple[str | None, str]:
        """(subject, "") when valid, else (None, why)."""
        with self._lock:
            found = self._access.get(token or "")
        if found is None:
            return None, "invalid"
        grant, expires = found
        if grant.revoked:
            return None, "revoked"
        if expires < time.time():
            return None, "expired"
        return grant.subject, ""

    def revoke(self, token: str) -> bool:
        with self._lock:
            grant = self._by_refresh.get(token) or self._access.get(token, (None,))[0]
            if grant is None:
                return False
            grant.revoked = True
            return True

    def drop_subject(self, subject: str) -> None:
        with self._lock:
            for grant in self._by_refresh.values():
                if grant.subject == subject:
                    grant.revoked = True


def _pkce_ok(challenge: str, method: str, verifier: str | None) -> bool:
    if not verifier:
        return False
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge
    return verifier == challenge


def oauth_error(status: int, error: str, description: str | None = None) -> Response:
    payload = {"error": error}
    if description:
        payload["error_description"] = description
    resp = jsonify(payload)
    resp.status_code = status
    return resp


def bad_authorize_request() -> tuple[str, int] | None:
    """The 400 page for an authorize request a real provider would refuse, else None."""
    args = request.args
    missing = [k for k in ("client_id", "redirect_uri", "response_type") if not args.get(k)]
    if missing or args["response_type"] != "code":
        bad = ", ".join(missing) or "response_type"
        return f"<p>error=invalid_request: missing or bad {bad}", 400
    return None


def client_credentials() -> tuple[str, str]:
    """client_secret_basic or client_secret_post, whichever the client used."""
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username or "", auth.password or ""
    return request.form.get("client_id", ""), request.form.get("client_secret", "")


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def redirect_with(uri: str, **params: str) -> Response:
    sep = "&" if "?" in uri else "?"
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Response(status=302, headers={"Location": f"{uri}{sep}{query}"})


def authorize_page(title: str, action: str, hidden: dict[str, str], choices_html: str) -> str:
    """A plain HTML consent page; browser tests click "Authorize" (id="authorize")."""
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in hidden.items()
    )
    return (
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head><body>"
        f'<h1>{html.escape(title)}</h1><form method="post" action="{html.escape(action)}">'
        f"{inputs}{choices_html}"
        '<button type="submit" name="decision" value="allow" id="authorize">Authorize</button> '
        '<button type="submit" name="decision" value="deny" id="deny">Cancel</button>'
        "</form></body></html>"
    )
