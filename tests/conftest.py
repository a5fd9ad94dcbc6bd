"""Fixtures in the flaskr style: `app`, `client`, `runner`, on real PostgreSQL and Redis, with
the two platform emulators served over HTTPS and the gateway served over HTTP so the fake
QuickBooks can deliver its webhooks to it."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from flask_migrate import upgrade
from sqlalchemy import text

from gateway import create_app, embedded
from gateway.extensions import db
from tests.support.services import ensure_postgres, ensure_redis, env_url

VERIFIER_TOKEN = "test-verifier-token"  # noqa: S105
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "test-admin-password"  # noqa: S105
CALLOUT_SECRET = "test-callout-secret"  # noqa: S105
DATABASE_URL = env_url("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gateway_test")
REDIS_URL = env_url("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Waits shortened for tests; one slow-marked test runs with the real ones.
FAST_SETTINGS = {
    "QBO_THROTTLE_PAUSE_SECONDS": 1.0,
    "SWEEPER_INTERVAL_SECONDS": 0.5,
    "RETRY_BASE_SECONDS": 0.2,
    "COALESCE_WINDOW_MS": 0,
    "SYNC_LOCK_SECONDS": 2.0,
}


def _recreate_database(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    ensure_postgres(parts.hostname or "127.0.0.1", parts.port or 5432)
    admin = url.replace(f"/{name}", "/postgres", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


class LiveGateway:
    """The gateway served over HTTP from a thread; each test points it at its own app."""

    def __init__(self) -> None:
        from tests.fakes.server import BackgroundServer

        self.app = None
        self._in_flight = 0
        self._idle = threading.Condition()
        self.server = BackgroundServer(self._dispatch, 0, None).start()
        self.url = self.server.url

    def _dispatch(self, environ, start_response):
        with self._idle:
            app = self.app
            if app is not None:
                self._in_flight += 1
        if app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app under test"]
        try:
            # The body is built here, so the request's database work is done before it counts
            # as finished.
            result = app.wsgi_app(environ, start_response)
            try:
                return list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def detach(self, timeout: float = 30.0) -> None:
        """Stop handing requests to the app and wait for those under way: a connection a
        request returns after the test disposed the pool would be orphaned with the old pool."""
        with self._idle:
            self.app = None
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout):
                raise AssertionError(f"{self._in_flight} gateway requests still running")


@pytest.fixture(scope="session")
def live_gateway() -> Iterator[LiveGateway]:
    gateway = LiveGateway()
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="session")
def fakes(live_gateway):
    from tests.fakes import start_fakes

    running = start_fakes(
        gateway_url=live_gateway.url,
        verifier_token=VERIFIER_TOKEN,
        callout_secret=CALLOUT_SECRET,
    )
    # The standard way our clients (requests, simple-salesforce, oauthlib) learn to trust it.
    previous = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = running.ca_bundle
    yield running
    running.stop()
    if previous is None:
        os.environ.pop("REQUESTS_CA_BUNDLE", None)
    else:
        os.environ["REQUESTS_CA_BUNDLE"] = previous


@pytest.fixture(scope="session")
def database_url() -> str:
    _recreate_database(DATABASE_URL)
    app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL, "TESTING": True})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return DATABASE_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    parts = urlsplit(REDIS_URL)
    ensure_redis(parts.hostname or "127.0.0.1", parts.port or 6379)
    return REDIS_URL


def gateway_settings(fakes, database_url: str, redis_url: str | None, fast: bool = True) -> dict:
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "QBO_WEBHOOK_VERIFIER_TOKENS": [VERIFIER_TOKEN, "a-rotated-out-token"],
        "SF_CALLOUT_SECRETS": [CALLOUT_SECRET],
        "QBO_CLIENT_ID": "qbo-client",
        "QBO_CLIENT_SECRET": "qbo-secret",
        "QBO_API_BASE": fakes.quickbooks_url,
        "QBO_AUTH_URL": fakes.quickbooks_auth_url,
        "QBO_TOKEN_URL": fakes.quickbooks_token_url,
        "QBO_REVOKE_URL": fakes.quickbooks_revoke_url,
        "SF_CLIENT_ID": "sf-client",
        "SF_CLIENT_SECRET": "sf-secret",
        "SF_LOGIN_URL": fakes.salesforce_url,
    }
    if fast:
        settings.update(FAST_SETTINGS)
    return settings


def _truncate_all() -> None:
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app_overrides() -> dict:
    """Settings a test directory changes for its `app` (the browser tests set PUBLIC_URL)."""
    return {}


@pytest.fixture
def app(fakes, database_url, redis_url, live_gateway, app_overrides):
    app = create_app({**gateway_settings(fakes, database_url, redis_url), **app_overrides})
    redis.Redis.from_url(redis_url).flushdb()
    fakes.reset()
    with app.app_context():
        _truncate_all()
        live_gateway.app = app
        yield app
        live_gateway.detach()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(fakes):
    """Build further apps (another database or Redis); their connections close after the test."""
    made = []

    def make(database_url: str, redis_url: str | None, fast: bool = True):
        app = create_app(gateway_settings(fakes, database_url, redis_url, fast))
        made.append(app)
        return app

    yield make
    for app in made:
        embedded.stop(app)  # an embedded app that served a request runs its jobs and sweeper
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        backend = app.extensions["gateway_backend"]
        if backend.redis is not None:
            backend.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token_of(html: str) -> str:
    """The CSRF token a rendered admin page hands to its forms and HTMX requests."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'"X-CSRFToken": "([^"]+)"', html
    )
    assert match, "the page carries no CSRF token"
    return match.group(1)


def sign_in(client, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD):
    """Sign in through the real form; afterwards every request sends the session's CSRF token
    in the header HTMX uses, as the pages do."""
    token = csrf_token_of(client.get("/admin/login").text)
    response = client.post(
        "/admin/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.text
    # Signing in starts a fresh session, so the token changes.
    page = client.get("/admin/", follow_redirects=True)
    client.environ_base["HTTP_X_CSRFTOKEN"] = csrf_token_of(page.text)
    return client


@pytest.fixture
def admin_client(app):
    """A test client signed in to the admin that sends the CSRF token on every request."""
    return sign_in(app.test_client())
