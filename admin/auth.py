"""Signing in to the admin: one account from ADMIN_USERNAME / ADMIN_PASSWORD.

The password is compared against a werkzeug hash computed once per process (or given ready-made
as ADMIN_PASSWORD, e.g. `scrypt:...`), never kept in the session. Failed attempts are counted per
client address in Redis (shared by every web process) or in memory in embedded mode.
"""

from __future__ import annotations

import hmac
import threading
import time
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, redirect, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from gateway import queue

from . import bp
from .rendering import render_page

SESSION_USER = "admin_user"
SESSION_SIGNED_IN_AT = "admin_signed_in_at"
# Paths under these prefixes need a signed-in admin, except the sign-in page and the CSS/JS.
GUARDED_PREFIXES = ("/admin", "/oauth/")
OPEN_ENDPOINTS = frozenset({"admin.login", "admin.static"})
HASH_PREFIXES = ("scrypt:", "pbkdf2:")


def _password_hash(app: Flask) -> str | None:
    password = app.config.get("ADMIN_PASSWORD")
    if not password:
        return None
    if password.startswith(HASH_PREFIXES):
        return password
    cached = app.extensions.get("admin_password_hash")
    if cached is None or cached[0] != password:
        cached = (password, generate_password_hash(password))
        app.extensions["admin_password_hash"] = cached
    return cached[1]


def signed_in_user() -> str | None:
    user = session.get(SESSION_USER)
    signed_in_at = session.get(SESSION_SIGNED_IN_AT, 0)
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if user and time.time() - signed_in_at < lifetime:
        return user
    return None


def require_sign_in() -> Response | None:
    """Guard for every /admin and /oauth request: anonymous ones get no content."""
    if not request.path.startswith(GUARDED_PREFIXES) or request.endpoint in OPEN_ENDPOINTS:
        return None
    if signed_in_user():
        return None
    session.pop(SESSION_USER, None)
    login = url_for("admin.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        # htmx follows HX-Redirect with a full page load instead of swapping a login form in.
        return Response("", status=401, headers={"HX-Redirect": login})
    return Response("", status=302, headers={"Location": login})


def _safe_next(target: str | None) -> str:
    """Only a local path: an open redirect after sign-in would be a phishing tool."""
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("admin.index")


class FailedLogins:
    """Failed sign-ins per client address within a window."""

    def __init__(self) -> None:
        self._memory: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _key(self, address: str) -> str:
        return f"admin-login-failures:{address}"

    def count(self, address: str, window: int) -> int:
        connection = queue.backend().redis
        if connection is not None:
            return int(connection.get(self._key(address)) or 0)
        cutoff = time.monotonic() - window
        with self._lock:
            recent = [t for t in self._memory.get(address, []) if t > cutoff]
            self._memory[address] = recent
            return len(recent)

    def add(self, address: str, window: int) -> None:
        connection = queue.backend().redis
        if connection is not None:
            key = self._key(address)
            with connection.pipeline() as pipe:
                pipe.incr(key)
                pipe.expire(key, window)  # counted from the latest failure
                pipe.execute()
            return
        with self._lock:
            self._memory.setdefault(address, []).append(time.monotonic())

    def clear(self, address: str) -> None:
        connection = queue.backend().redis
        if connection is not None:
            connection.delete(self._key(address))
        with self._lock:
            self._memory.pop(address, None)


def _failures() -> FailedLogins:
    return current_app.extensions.setdefault("admin_failed_logins", FailedLogins())


@bp.route("/login", methods=["GET", "POST"])
def login():
    config = current_app.config
    address = request.remote_addr or "unknown"
    window = config["LOGIN_WINDOW_SECONDS"]
    error = None
    status = 200
    expected_hash = _password_hash(current_app)
    if request.method == "GET" and signed_in_user():
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        if _failures().count(address, window) >= config["LOGIN_MAX_FAILURES"]:
            error = (
                f"Too many failed sign-ins from your address. Wait {window // 60} minutes "
                "and try again."
            )
            status = 429
        elif (
            expected_hash is not None
            and hmac.compare_digest(username.encode(), config["ADMIN_USERNAME"].encode())
            and check_password_hash(expected_hash, password)
        ):
            _failures().clear(address)
            session.clear()  # a fresh session (and CSRF token) for the signed-in admin
            session.permanent = True
            session[SESSION_USER] = username
            session[SESSION_SIGNED_IN_AT] = time.time()
            return redirect(_safe_next(request.args.get("next")))
        else:
            _failures().add(address, window)
            error = "Wrong username or password."
            status = 401
    page = render_page(
        "admin/login.html",
        title="Sign in",
        error=error,
        password_configured=expected_hash is not None,
    )
    return page, status


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("admin.login"))


def init_app(app: Flask) -> None:
    app.before_request(require_sign_in)
