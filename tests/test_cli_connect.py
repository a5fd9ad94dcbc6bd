"""`flask connect` writes a connection's tokens under the same lock as a token refresh."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from gateway import queue
from gateway.connectors.quickbooks import QuickBooksClient
from gateway.connectors.salesforce import SalesforceClient
from gateway.connectors.tokens import quickbooks_token_lock, refresh_grant, salesforce_token_lock
from gateway.extensions import db
from gateway.models import Company, SalesforceOrg
from tests.support.oauth import another_quickbooks_refresh_token, another_salesforce_refresh_token
from tests.support.scenario import Scenario, connect


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


@dataclass
class Connection:
    """One connection as the test drives it: who refreshes it, and how it is connected anew."""

    calls: str  # the fake whose call log shows its token calls
    lock_name: str
    refresh: Callable[[], None]
    connect_args: list[str]
    stored_refresh_token: Callable[[], str]
    token_url: str
    client: tuple[str, str]


def _quickbooks(gw: Scenario, fakes) -> Connection:
    company = gw.company()
    row_id, failed_token = company.id, company.access_token
    new_token = another_quickbooks_refresh_token(fakes, gw.realm)
    return Connection(
        "qbo",
        quickbooks_token_lock(gw.realm),
        lambda: QuickBooksClient(db.session.get(Company, row_id)).refresh(failed_token),
        ["connect", "quickbooks", "--realm-id", gw.realm, "--refresh-token", new_token],
        lambda: gw.company().refresh_token,
        fakes.quickbooks_token_url,
        ("qbo-client", "qbo-secret"),
    )


def _salesforce(gw: Scenario, fakes) -> Connection:
    org = db.session.execute(select(SalesforceOrg)).scalar_one()
    row_id = org.id
    new_token = another_salesforce_refresh_token(fakes)
    return Connection(
        "sf",
        salesforce_token_lock(org.org_id),
        lambda: SalesforceClient(db.session.get(SalesforceOrg, row_id)).refresh(),
        ["connect", "salesforce", "--refresh-token", new_token],
        lambda: db.session.get(SalesforceOrg, row_id, populate_existing=True).refresh_token,
        fakes.salesforce_url + "/services/oauth2/token",
        ("sf-client", "sf-secret"),
    )


def _span(call: dict) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(call["time"])
    return start, start + timedelta(milliseconds=call["elapsed_ms"])


@pytest.mark.parametrize("make_connection", [_quickbooks, _salesforce], ids=["qbo", "sf"])
def test_connect_does_not_interleave_with_a_refresh_of_the_same_connection(
    gw, fakes, make_connection
):
    app = gw.app
    connection = make_connection(gw, fakes)
    # Each token call takes a while, so a connect not waiting for the lock would overlap.
    gw.platforms.settings(connection.calls, latency_ms=300)
    gw.platforms.clear_calls()
    failures: list[BaseException] = []

    def refresh() -> None:
        with app.app_context():
            try:
                connection.refresh()
            except BaseException as exc:  # reported by the main thread
                failures.append(exc)

    refreshing = threading.Thread(target=refresh)
    refreshing.start()
    deadline = time.monotonic() + 10
    while queue.backend().lock_holder(connection.lock_name) is None:
        assert time.monotonic() < deadline, "the refresh never took its lock"
        time.sleep(0.005)
    result = app.test_cli_runner().invoke(args=connection.connect_args)
    refreshing.join(timeout=30)
    assert not failures, failures
    assert result.exit_code == 0, result.output

    auth_calls = gw.platforms.calls(connection.calls, "auth")
    first, second = sorted(auth_calls, key=lambda call: call["time"])
    assert first["status"] == second["status"] == 200
    # The connect's exchange began only after the refresh's had been answered (the call log's
    # start times are cut to the millisecond, hence the 2 ms).
    assert _span(second)[0] >= _span(first)[1] - timedelta(milliseconds=2)
    # Whichever wrote last, what is stored is a live refresh token.
    gw.platforms.settings(connection.calls, latency_ms=0)
    db.session.rollback()
    refresh_grant(connection.token_url, *connection.client, connection.stored_refresh_token(), 10)
