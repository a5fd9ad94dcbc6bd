"""`flask connect` writes a connection's tokens under the same lock as a token refresh."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest

from gateway import queue
from gateway.connectors.quickbooks import QuickBooksClient
from gateway.connectors.tokens import quickbooks_token_lock, refresh_grant
from gateway.extensions import db
from gateway.models import Company
from tests.support.oauth import another_refresh_token
from tests.support.scenario import connect


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


def _span(call: dict) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(call["time"])
    return start, start + timedelta(milliseconds=call["elapsed_ms"])


def test_connect_does_not_interleave_with_a_refresh_of_the_same_company(gw, fakes):
    app = gw.app
    new_refresh_token = another_refresh_token(fakes, gw.realm)
    company = gw.company()
    company_id, failed_token = company.id, company.access_token
    # Each token call takes a while, so a connect not waiting for the lock would overlap.
    gw.platforms.settings("qbo", latency_ms=300)
    gw.platforms.clear_calls()
    failures: list[BaseException] = []

    def refresh() -> None:
        with app.app_context():
            try:
                QuickBooksClient(db.session.get(Company, company_id)).refresh(failed_token)
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

    refreshing = threading.Thread(target=refresh)
    refreshing.start()
    lock_name = quickbooks_token_lock(gw.realm)
    deadline = time.monotonic() + 10
    while not queue.backend().is_locked(lock_name):
        assert time.monotonic() < deadline, "the refresh never took its lock"
        time.sleep(0.005)
    result = app.test_cli_runner().invoke(
        args=["connect", "quickbooks", "--realm-id", gw.realm, "--refresh-token", new_refresh_token]
    )
    refreshing.join(timeout=30)
    assert not failures, failures
    assert result.exit_code == 0, result.output

    first, second = sorted(gw.platforms.calls("qbo", "auth"), key=lambda call: call["time"])
    assert first["status"] == second["status"] == 200
    # The connect's exchange began only after the refresh's had been answered (the call log's
    # start times are cut to the millisecond, hence the 2 ms).
    assert _span(second)[0] >= _span(first)[1] - timedelta(milliseconds=2)
    # Whichever wrote last, what is stored is a live refresh token.
    gw.platforms.settings("qbo", latency_ms=0)
    stored = gw.company().refresh_token
    config = app.config
    refresh_grant(config["QBO_TOKEN_URL"], "qbo-client", "qbo-secret", stored, 10)
