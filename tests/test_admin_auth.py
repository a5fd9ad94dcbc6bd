"""Signing in to the admin, the guard on every admin and OAuth route, CSRF, session cookies."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from werkzeug.security import generate_password_hash

from gateway import create_app
from gateway.extensions import db
from tests.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    csrf_token_of,
    gateway_settings,
    sign_in,
)

ROOT = Path(__file__).resolve().parent.parent
SAFE_TO_SKIP = {"HEAD", "OPTIONS"}


def _guarded_rules(app):
    return [
        rule
        for rule in app.url_map.iter_rules()
        if (rule.rule.startswith("/admin") or rule.rule.startswith("/oauth/"))
        and rule.endpoint not in ("admin.login", "admin.static")
    ]


def test_no_admin_or_oauth_route_answers_an_anonymous_request_with_content(app, client):
    rules = _guarded_rules(app)
    paths = {rule.rule for rule in rules}
    assert {"/admin/", "/admin/logout", "/admin/connections", "/admin/realtime"} <= paths
    assert {
        "/oauth/quickbooks/connect",
        "/oauth/quickbooks/callback",
        "/oauth/salesforce/connect",
        "/oauth/salesforce/callback",
    } <= paths
    for rule in rules:
        path = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted(rule.methods - SAFE_TO_SKIP):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.open(path, method=method, headers=headers)
                where = f"{method} {path} {headers}"
                assert response.status_code in (302, 401), where
                assert response.data == b"", where
                target = response.headers.get("Location") or response.headers.get("HX-Redirect")
                assert target.startswith("/admin/login?next="), where


def test_the_static_files_and_the_sign_in_page_are_open(client):
    assert client.get("/admin/login").status_code == 200
    with client.get("/admin/static/admin.css") as stylesheet:
        assert stylesheet.status_code == 200


def test_sign_in_with_the_right_password_and_back_to_the_page_asked_for(app, client):
    assert client.get("/admin/connections").headers["Location"].endswith("next=/admin/connections")
    token = csrf_token_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login?next=/admin/",
        data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    page = client.get("/admin/setup")
    assert page.status_code == 200 and "Sign out" in page.text


def test_the_sign_in_page_sends_a_signed_in_admin_on(admin_client):
    response = admin_client.get("/admin/login?next=/admin/realtime")
    assert response.status_code == 302 and response.headers["Location"] == "/admin/realtime"


def test_a_wrong_password_is_refused_with_a_message(client):
    token = csrf_token_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"username": ADMIN_USERNAME, "password": "nope", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert client.get("/admin/setup").status_code == 302


def test_the_next_page_after_sign_in_is_never_another_site(app):
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        client = app.test_client()
        token = csrf_token_of(client.get("/admin/login").text)
        response = client.post(
            "/admin/login",
            query_string={"next": target},
            data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": token},
        )
        assert response.headers.get("Location") == "/admin/", (
            target,
            response.status_code,
            response.text[-400:],
        )


def test_sign_in_attempts_are_rate_limited_per_address(app, client):
    limit = app.config["LOGIN_MAX_FAILURES"]
    token = csrf_token_of(client.get("/admin/login").text)
    for _ in range(limit):
        response = client.post(
            "/admin/login", data={"username": "admin", "password": "guess", "csrf_token": token}
        )
        assert response.status_code == 401
    # Even the right password is refused until the window passes.
    response = client.post(
        "/admin/login",
        data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.text
    # Another address is not affected.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "127.0.0.2"
    sign_in(other)


def test_the_login_form_needs_its_csrf_token(client):
    client.get("/admin/login")
    response = client.post(
        "/admin/login", data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 400
    assert "security token" in response.text
    assert client.get("/admin/setup").status_code == 302


def test_signed_in_requests_without_the_token_are_refused(admin_client):
    del admin_client.environ_base["HTTP_X_CSRFTOKEN"]
    response = admin_client.post("/admin/logout", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert response.json["error"] == "csrf_failed"
    assert admin_client.get("/admin/setup").status_code == 200  # still signed in


def test_the_signed_edges_need_no_csrf_token(app, client):
    # The webhook edge answers with its own signature check, not a CSRF refusal.
    response = client.post("/webhooks/quickbooks", data=b"{}")
    assert response.status_code == 401
    assert response.json["error"] == "invalid_signature"


def test_the_callout_edge_is_exempt_by_its_blueprint_name(fakes, database_url, redis_url):
    from flask import Blueprint

    app = create_app(gateway_settings(fakes, database_url, redis_url))
    elsewhere = Blueprint("elsewhere", __name__)
    elsewhere.add_url_rule("/elsewhere", "receive", lambda: "stored", methods=["POST"])
    app.register_blueprint(elsewhere)
    client = app.test_client()
    # No CSRF token: the edge answers for itself (no signature: 401), not CSRF's 400.
    callout = client.post("/callouts/salesforce", data=b"{}")
    assert (callout.status_code, callout.json["error"]) == (401, "invalid_signature")
    assert client.post("/elsewhere", data=b"{}").status_code == 400  # default-deny
    with app.app_context():
        db.engine.dispose()


def test_logout_ends_the_session(admin_client):
    assert admin_client.post("/admin/logout").status_code == 302
    assert admin_client.get("/admin/setup").status_code == 302


def test_sessions_expire(app, admin_client):
    later = timedelta(minutes=app.config["ADMIN_SESSION_MINUTES"], seconds=1)
    with freeze_time() as frozen:
        assert admin_client.get("/admin/setup").status_code == 200
        frozen.tick(later)
        response = admin_client.get("/admin/setup")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login")


def test_session_cookie_flags_on_loopback(client):
    token = csrf_token_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login",
        data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": token},
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1 (make run) has no TLS


def test_session_cookie_is_secure_on_a_public_url(fakes, database_url, redis_url):
    settings = {
        **gateway_settings(fakes, database_url, redis_url),
        "PUBLIC_URL": "https://gw.example",
    }
    app = create_app(settings)
    client = app.test_client()
    token = csrf_token_of(client.get("/admin/login", base_url="https://gw.example").text)
    response = client.post(
        "/admin/login",
        base_url="https://gw.example",
        data={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "csrf_token": token},
        headers={"Referer": "https://gw.example/admin/login"},
    )
    assert response.status_code == 302
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with app.app_context():
        db.engine.dispose()


def test_the_password_may_be_configured_as_a_hash(fakes, database_url, redis_url):
    settings = gateway_settings(fakes, database_url, redis_url)
    settings["ADMIN_PASSWORD"] = generate_password_hash("from-a-hash")
    app = create_app(settings)
    sign_in(app.test_client(), password="from-a-hash")
    with app.app_context():
        db.engine.dispose()


def test_without_a_password_nobody_can_sign_in(fakes, database_url, redis_url):
    settings = {**gateway_settings(fakes, database_url, redis_url), "ADMIN_PASSWORD": None}
    app = create_app(settings)
    client = app.test_client()
    page = client.get("/admin/login")
    assert "No admin password is configured" in page.text
    response = client.post(
        "/admin/login",
        data={"username": ADMIN_USERNAME, "password": "", "csrf_token": csrf_token_of(page.text)},
    )
    assert response.status_code == 401
    with app.app_context():
        db.engine.dispose()


def test_an_htmx_request_gets_the_block_and_a_full_request_the_page(admin_client):
    full = admin_client.get("/admin/setup")
    fragment = admin_client.get("/admin/setup", headers={"HX-Request": "true"})
    assert "<html" in full.text and "<html" not in fragment.text
    assert "Next step" in fragment.text
    assert "HX-Request" in fragment.headers["Vary"] and "HX-Request" in full.headers["Vary"]
    restore = admin_client.get(
        "/admin/setup", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.text


def test_heroku_builds_the_admin_assets_too():
    manifest = json.loads((ROOT / "app.json").read_text())
    buildpacks = [pack["url"] for pack in manifest["buildpacks"]]
    assert buildpacks.index("heroku/nodejs") < buildpacks.index("heroku/python")
    scripts = json.loads((ROOT / "package.json").read_text())["scripts"]
    assert scripts["heroku-postbuild"] == "npm run vendor"
    assert "admin/static/vendor/htmx.min.js" in scripts["vendor"]


def test_htmx_2_is_installed_from_the_lockfile_and_served(client):
    lock = json.loads((ROOT / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/htmx.org"]["version"]
    assert version.startswith("2.0."), "htmx 4 drops hx-headers inheritance (the CSRF token)"
    vendored = ROOT / "admin/static/vendor/htmx.min.js"
    if not vendored.exists():
        pytest.fail("admin/static/vendor/htmx.min.js is missing: run `make deps` (npm ci)")
    with client.get("/admin/static/vendor/htmx.min.js") as response:
        assert response.status_code == 200
        assert f'version:"{version}"' in response.text.replace(" ", "")


def _fail_sign_ins(client, times: int, **headers) -> int:
    token = csrf_token_of(client.get("/admin/login", headers=headers).text)
    status = 0
    for _ in range(times):
        status = client.post(
            "/admin/login",
            data={"username": "admin", "password": "guess", "csrf_token": token},
            headers=headers,
        ).status_code
    return status


def test_behind_a_proxy_each_client_address_is_limited_on_its_own(fakes, database_url, redis_url):
    settings = {**gateway_settings(fakes, database_url, redis_url), "PROXY_HOPS": 1}
    app = create_app(settings)
    limit = app.config["LOGIN_MAX_FAILURES"]
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    assert _fail_sign_ins(app.test_client(), limit + 1, **attacker) == 429
    admin = app.test_client()
    admin.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    sign_in(admin)  # the admin, elsewhere, is not locked out
    with app.app_context():
        db.engine.dispose()


def test_without_proxy_hops_a_forged_forwarded_for_does_not_escape_the_limit(app, client):
    limit = app.config["LOGIN_MAX_FAILURES"]
    assert _fail_sign_ins(client, limit, **{"X-Forwarded-For": "203.0.113.1"}) == 401
    assert _fail_sign_ins(client, 1, **{"X-Forwarded-For": "203.0.113.2"}) == 429
