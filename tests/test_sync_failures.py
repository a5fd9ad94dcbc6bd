"""The things that go wrong in production, end to end: expiring tokens, throttling, lost
sessions, record locks, Redis outages, a worker killed mid-job, and the embedded mode."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
from flask_migrate import upgrade

from gateway import sync
from gateway.connectors import ReconnectNeeded
from gateway.connectors.quickbooks import QuickBooksClient
from gateway.connectors.salesforce import record_error
from gateway.connectors.tokens import refresh_grant
from gateway.extensions import db
from gateway.models import EventStatus, utcnow
from tests.conftest import gateway_settings
from tests.support.drain import settle
from tests.support.processes import environment, worker
from tests.support.scenario import connect
from tests.support.services import PrivateRedis


@pytest.fixture
def gw(app, runner, fakes):
    return connect(app, runner, fakes)


def test_a_token_that_expires_mid_run_is_refreshed_and_the_rotated_one_kept(gw):
    gw.platforms.settings("qbo", token_lifetime=1)
    QuickBooksClient(gw.company()).refresh(failed_token=gw.company().access_token)
    company = gw.company()
    old_refresh_token = company.refresh_token
    # Our clock says the token is good for an hour; Intuit expires it after a second.
    company.access_token_expires_at = utcnow() + timedelta(hours=1)
    db.session.commit()
    time.sleep(1.2)
    gw.platforms.clear_calls()
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
    assert gw.events()[0].status == EventStatus.SYNCED
    assert [c["status"] for c in gw.platforms.calls("qbo", "read")] == [401, 200]
    assert len(gw.platforms.calls("qbo", "auth")) == 1
    new_refresh_token = gw.company().refresh_token
    assert new_refresh_token != old_refresh_token
    config = gw.app.config
    with pytest.raises(ReconnectNeeded):  # rotation: the old one is dead
        refresh_grant(config["QBO_TOKEN_URL"], "qbo-client", "qbo-secret", old_refresh_token, 10)


def test_a_429_pauses_the_company_then_the_events_go_through(gw):
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/query", "status": 429, "times": 1, "body": "xml"}]
    )
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
    queries = [c for c in gw.platforms.calls("qbo", "read") if c["path"].endswith("/query")]
    assert [c["status"] for c in queries] == [429, 200]
    pause = gw.app.config["QBO_THROTTLE_PAUSE_SECONDS"]
    gap = datetime.fromisoformat(queries[1]["time"]) - datetime.fromisoformat(queries[0]["time"])
    assert gap.total_seconds() >= pause
    [event] = gw.events()
    assert event.status == EventStatus.SYNCED


def test_an_expired_salesforce_session_is_refreshed_and_the_write_retried_once(gw):
    gw.platforms.fail_next_account_upsert(401, "INVALID_SESSION_ID")
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
    assert len(gw.platforms.calls("sf", "auth")) == 1
    assert gw.events()[0].status == EventStatus.SYNCED


def test_a_locked_row_fails_retryably_and_the_sweeper_retries_it(gw):
    gw.platforms.fail_next_account_upsert(400, "UNABLE_TO_LOCK_ROW")
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
    [event] = gw.events()
    assert event.status == EventStatus.SYNCED
    assert event.attempts == 2


def test_a_permanent_salesforce_error_waits_for_a_person_with_the_api_message(gw):
    gw.platforms.fail_next_account_upsert(
        400, "INVALID_FIELD", message="No such column 'Foo' on sobject of type Account"
    )
    gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    [event] = gw.events()
    assert event.status == EventStatus.FAILED
    assert event.retryable is False
    assert "INVALID_FIELD" in event.reason and "No such column" in event.reason


@pytest.mark.parametrize(
    ("answer", "retryable"),
    [
        ({"time": "2026-11-26T10:00:00.000-08:00"}, True),
        ({"Fault": {"Error": {"Message": "Invalid Company Status", "code": "6190"}}}, False),
    ],
    ids=["no-query-response", "error-object"],
)
def test_a_200_without_records_is_never_read_as_deleted(gw, answer, retryable):
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    gw.platforms.settings(
        "qbo", fail_next=[{"match": "/query", "status": 200, "times": 1, "body": answer}]
    )
    gw.customer(Id=customer["Id"], DisplayName="Acme Limited")
    gw.settle(until=lambda: gw.events()[-1].status == EventStatus.FAILED)
    failed = gw.events()[-1]
    assert failed.retryable is retryable
    assert "QuickBooks 200" in failed.reason
    account = gw.account(customer["Id"])
    assert (account["Name"], account["QBO_Deleted__c"]) == ("Acme Ltd", False)
    assert gw.links()[0].deleted is False
    if retryable:  # the next try reads a real answer
        gw.settle()
        assert gw.events()[-1].status == EventStatus.SYNCED
        assert gw.account(customer["Id"])["Name"] == "Acme Limited"


@pytest.mark.parametrize(
    ("field", "retryable"),
    [("QBO_Id__c", True), ("Email__c", False)],
    ids=["our-external-id", "another-unique-field"],
)
def test_duplicate_value_on_our_external_id_is_a_race_and_retried(gw, field, retryable):
    """Two jobs upserting the same new record at once: one inserts, the other hits the unique
    external id. Retried, it finds and updates the record. Any other clash is permanent."""
    gw.platforms.fail_next_account_upsert(
        400,
        "DUPLICATE_VALUE",
        message=f"duplicate value found: {field} duplicates value on record with id: "
        "001bj0000000009AAA",
    )
    customer = gw.customer(DisplayName="Acme Ltd")
    gw.settle()
    [event] = gw.events()
    if retryable:
        assert (event.status, event.attempts) == (EventStatus.SYNCED, 2)
        assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
    else:
        assert (event.status, event.retryable) == (EventStatus.FAILED, False)
        assert "DUPLICATE_VALUE" in event.reason and field in event.reason


def failed(*errors: dict) -> dict:
    return {"success": False, "errors": list(errors)}


def test_collection_results_name_the_duplicated_field():
    race = {
        "statusCode": "DUPLICATE_VALUE",
        "message": "duplicate value found: QBO_Id__c "
        "duplicates value on record with id: 001bj0000000009AAA",
        "fields": [],
    }
    by_fields = {"statusCode": "DUPLICATE_VALUE", "message": "x", "fields": ["QBO_Id__c"]}
    repeat = {
        "statusCode": "DUPLICATE_VALUE",
        "message": "Maximum number of duplicate updates in one batch (12 allowed). Attempt to "
        "update Id more than once in this Api call: 001bj0000000009AAA",
    }
    assert record_error(failed(race), "QBO_Id__c")[1] is True
    assert record_error(failed(by_fields), "qbo_id__c")[1] is True
    assert record_error(failed(race))[1] is False  # a write not keyed by the external id
    assert record_error(failed(race), "Other__c")[1] is False
    assert record_error(failed(repeat), "QBO_Id__c")[1] is False


def test_two_jobs_at_once_never_adopt_one_account(gw, app, runner):
    """Two companies' customers share an email with one Account; their jobs run at the same
    time. One adopts the Account; the other then sees it carries an external id and creates
    its own: never one Account linked twice with the first link's external id overwritten."""
    other = gw.platforms.new_company()
    connected = runner.invoke(
        args=[
            "connect",
            "quickbooks",
            "--realm-id",
            other["realmId"],
            "--refresh-token",
            other["refresh_token"],
        ]
    )
    assert connected.exit_code == 0, connected.output
    gw.platforms.sf_create("Account", {"Name": "Acme (SF)", "Email__c": "ap@acme.test"})
    for realm in (gw.realm, other["realmId"]):
        gw.platforms.qbo_save(
            realm,
            "Customer",
            {"DisplayName": "Acme", "PrimaryEmailAddr": {"Address": "ap@acme.test"}},
        )
    gw.platforms.wait_webhooks_delivered()
    keys = sorted({e.sync_key for e in gw.events()})
    assert len(keys) == 2
    gw.platforms.settings("sf", latency_ms=300)  # the two runs overlap for certain
    start = threading.Barrier(len(keys), timeout=30)
    errors: list[BaseException] = []

    def drain(key: str) -> None:
        with app.app_context():
            try:
                start.wait()
                sync.drain(key)
            except BaseException as exc:  # handed to the test thread
                errors.append(exc)

    threads = [threading.Thread(target=drain, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    gw.platforms.settings("sf", latency_ms=0)
    gw.settle()
    assert [e.status for e in gw.events()] == [EventStatus.SYNCED] * 2
    accounts = gw.accounts()
    assert len(accounts) == 2
    links = gw.links()
    assert sorted(link.salesforce_id for link in links) == sorted(a["Id"] for a in accounts)
    reasons = sorted(e.reason.split()[0] for e in gw.events())
    assert reasons == ["adopted", "created"]


def test_redis_stopped_while_webhooks_arrive(gw, make_app, database_url, live_gateway):
    private = PrivateRedis().start()
    outage = make_app(database_url, private.url)
    live_gateway.app = outage
    try:
        with outage.app_context():
            private.stop()
            customer = gw.customer(DisplayName="Acme Ltd")
            gw.platforms.wait_webhooks_delivered()
            [event] = gw.events()
            assert event.status == EventStatus.PENDING  # stored, answered 200, waiting
            assert gw.platforms.webhooks()["deliveries"][-1]["status"] == 200
            private.start()
            settle(outage, gw.platforms.wait_webhooks_delivered)
            assert gw.account(customer["Id"])["Name"] == "Acme Ltd"
            assert gw.events()[0].status == EventStatus.SYNCED
    finally:
        private.stop()
        live_gateway.app = gw.app


def test_a_worker_killed_mid_job_creates_nothing_twice(
    gw, tmp_path, fakes, database_url, redis_url
):
    env = environment(
        gateway_settings(fakes, database_url, redis_url), REQUESTS_CA_BUNDLE=fakes.ca_bundle
    )
    first = worker(env, tmp_path / "worker1.log")
    try:
        first.wait_for_output("Listening on", 30)
        gw.platforms.settings("sf", latency_ms=1500)  # the write is in flight when we kill
        # with an email, so that matching asks Salesforce (a record without one cannot match)
        customer = gw.customer(DisplayName="Acme Ltd", PrimaryEmailAddr={"Address": "ap@acme.test"})
        gw.platforms.wait_webhooks_delivered()
        # describe, then the match query, then the upsert: kill while the upsert is in flight
        deadline = time.monotonic() + 20
        while len(gw.platforms.calls("sf", "read")) < 2:
            assert time.monotonic() < deadline, first.output()[-2000:]
            time.sleep(0.05)
        time.sleep(0.5)
        first.kill_with_children()  # worker and work-horse, no goodbye
        first.wait(10)
    finally:
        first.stop()
    time.sleep(1.5)  # the fake finishes the write its caller no longer waits for
    gw.platforms.settings("sf", latency_ms=0)
    assert len(gw.accounts()) == 1  # written to Salesforce ...
    assert [e.status for e in gw.events()] == [EventStatus.PROCESSING]  # ... but not recorded
    assert gw.links() == []

    second = worker(env, tmp_path / "worker2.log")  # its sweeper finds the orphaned event
    try:
        deadline = time.monotonic() + 30
        while gw.events()[0].status != EventStatus.SYNCED:
            assert time.monotonic() < deadline, second.output()[-3000:]
            time.sleep(0.2)
    finally:
        second.stop()
    assert len(gw.accounts()) == 1
    assert gw.account(customer["Id"])["Name"] == "Acme Ltd"


def test_embedded_mode_syncs_with_sqlite_and_no_redis(app, tmp_path, fakes, live_gateway, make_app):
    embedded = make_app(f"sqlite:///{tmp_path / 'embedded.sqlite3'}", None)
    with embedded.app_context():
        upgrade()
        live_gateway.app = embedded
        try:
            gw = connect(embedded, embedded.test_cli_runner(), fakes)
            customer = gw.customer(DisplayName="Embedded Co", BillAddr={"City": "York"})
            deadline = time.monotonic() + 20
            while True:
                events = gw.events()
                if events and events[0].status == EventStatus.SYNCED:
                    break
                assert time.monotonic() < deadline, [(e.status, e.reason) for e in events]
                time.sleep(0.1)
            account = gw.account(customer["Id"])
            assert (account["Name"], account["BillingCity"]) == ("Embedded Co", "York")
            assert embedded.test_client().get("/readyz").json == {
                "database": "ok",
                "redis": "not configured",
            }
        finally:
            live_gateway.detach()
