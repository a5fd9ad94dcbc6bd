"""With the real, unshortened waits: after a 429 the company's QuickBooks traffic stops for a
full 60 s, and the events go through afterwards."""

from __future__ import annotations

from datetime import datetime

import pytest

from gateway.connectors.quickbooks import QuickBooksClient, Throttled, limiter
from gateway.connectors.ratelimit import Paused
from gateway.models import EventStatus
from tests.support.drain import run_worker
from tests.support.scenario import connect


@pytest.mark.slow
def test_a_429_stops_the_company_for_the_real_60_seconds(
    app, make_app, database_url, redis_url, fakes, live_gateway
):
    # `app` gives a clean database, Redis and emulators; this one keeps every default wait.
    real = make_app(database_url, redis_url, fast=False)
    assert real.config["QBO_THROTTLE_PAUSE_SECONDS"] == 60.0
    with real.app_context():
        live_gateway.app = real
        try:
            gw = connect(real, real.test_cli_runner(), fakes)
            gw.platforms.settings(
                "qbo", fail_next=[{"match": "/query", "status": 429, "times": 1, "body": "fault"}]
            )
            customer = gw.customer(DisplayName="Patient Co")
            gw.platforms.wait_webhooks_delivered()
            run_worker()
            [event] = gw.events()
            assert event.status == EventStatus.PENDING
            assert "rate limit" in event.reason
            with pytest.raises(Paused) as paused, limiter().slot(gw.realm, max_wait=0):
                pass
            assert paused.value.seconds > 55
            with pytest.raises(Throttled):  # nothing leaves for this company meanwhile
                QuickBooksClient(gw.company()).query("SELECT * FROM Customer")

            gw.settle(timeout=120)
            assert gw.account(customer["Id"])["Name"] == "Patient Co"
            queries = [c for c in gw.platforms.calls("qbo", "read") if c["path"].endswith("/query")]
            assert [c["status"] for c in queries] == [429, 200]
            gap = datetime.fromisoformat(queries[1]["time"]) - datetime.fromisoformat(
                queries[0]["time"]
            )
            assert gap.total_seconds() >= 60
        finally:
            live_gateway.detach()  # the `app` fixture's teardown follows
