"""Workers stay honest when Redis misbehaves: a run that loses its sync lock stops before its
next write, the sweeper hands back only a lapsed run's events and never doubles a live job, and
a Redis that hangs costs a webhook one short timeout."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, update

from gateway import queue, sync
from gateway.extensions import db
from gateway.models import Event, EventStatus, utcnow
from gateway.queue import LockLost
from gateway.sweeper import hand_back_orphans, schedule_due_keys, sweep
from gateway.sync_key import FROM_QUICKBOOKS, SyncKey
from tests.conftest import VERIFIER_TOKEN
from tests.support.factories import add_company, add_mappings, cloudevent, signed
from tests.support.scenario import connect
from tests.support.services import PrivateRedis

URL = "/webhooks/quickbooks"
FIVE_ENTITIES_YAML = "mappings:\n" + "".join(
    f"""  - name: {name}
    quickbooks: {entity}
    salesforce: {sobject}
    realtime: true
    external_id: QBO_Id__c
    fields:
      - {{quickbooks: {field}, salesforce: Name}}
"""
    for name, entity, sobject, field in [
        ("customers", "Customer", "Account", "DisplayName"),
        ("vendors", "Vendor", "Account", "DisplayName"),
        ("items", "Item", "Product2", "Name"),
        ("employees", "Employee", "Contact", "DisplayName"),
        ("accounts", "Account", "Account", "Name"),
    ]
)


def customer_key(company_id: int) -> str:
    return str(SyncKey(FROM_QUICKBOOKS, company_id, "Customer"))


def processing_event(company_id: int, record_id: str, claim_token: str | None) -> Event:
    event = Event(
        source="quickbooks",
        dedupe_key=f"test-{record_id}",
        company_id=company_id,
        account_id="123",
        entity="Customer",
        record_id=record_id,
        operation="update",
        sync_key=customer_key(company_id),
        status=EventStatus.PROCESSING,
        claimed_at=utcnow() - timedelta(minutes=5),
        claim_token=claim_token,
        attempts=1,
    )
    db.session.add(event)
    return event


def statuses() -> dict[str, str]:
    db.session.rollback()
    return {e.record_id: e.status for e in db.session.execute(select(Event)).scalars()}


def test_a_run_that_loses_its_lock_stops_before_its_next_write(app, runner, fakes):
    gw = connect(app, runner, fakes)
    kept = gw.customer(DisplayName="Kept Co")
    closing = gw.customer(DisplayName="Closing Co")
    gw.settle()
    done_before = len(gw.events())
    gw.customer(Id=kept["Id"], DisplayName="Kept Co Ltd")  # the run's first write: an upsert
    gw.customer(Id=closing["Id"], Active=False)  # its second: flagging the Account deleted
    gw.platforms.wait_webhooks_delivered()
    queue.backend().queue.empty()  # this test runs the drain itself
    gw.platforms.clear_calls()
    gw.platforms.settings("sf", latency_ms=1500)  # the upsert is in flight ...
    key = customer_key(gw.company().id)
    lock_key = f"gw:lock:{SyncKey.parse(key).lock_name}"
    connection = redis.Redis.from_url(app.config["REDIS_URL"])

    def take_the_lock_over() -> None:
        # ... when the lock lapses and another run takes it (Redis lost the key, say).
        deadline = time.monotonic() + 10
        while not connection.exists(lock_key) and time.monotonic() < deadline:
            time.sleep(0.01)
        connection.set(lock_key, "another-run", px=60_000)

    thief = threading.Thread(target=take_the_lock_over)
    thief.start()
    with pytest.raises(LockLost):
        sync.drain(key)
    thief.join()
    gw.platforms.settings("sf", latency_ms=0)

    writes = gw.platforms.calls("sf", "write")
    assert len(writes) == 1 and "/QBO_Id__c/" in writes[0]["path"]  # the upsert, no flag
    assert not gw.account(closing["Id"]).get("QBO_Deleted__c")
    events = gw.events()[done_before:]
    assert [e.status for e in events] == [EventStatus.PENDING] * 2  # handed back, not finished
    assert all(e.claim_token is None and "lost its lock" in e.reason for e in events)

    connection.delete(lock_key)  # the other run is done
    gw.settle()
    assert gw.account(kept["Id"])["Name"] == "Kept Co Ltd"
    assert gw.account(closing["Id"])["QBO_Deleted__c"] is True
    assert {e.status for e in gw.events()} == {EventStatus.SYNCED}


def test_a_run_whose_events_were_handed_on_leaves_them_to_the_new_run(app, runner, fakes):
    gw = connect(app, runner, fakes)
    gw.customer(DisplayName="Acme Ltd")
    gw.platforms.wait_webhooks_delivered()
    queue.backend().queue.empty()  # this test runs the drain itself
    # QuickBooks answers slowly, and then with an error this run would record on its events ...
    gw.platforms.settings(
        "qbo", latency_ms=1500, fail_next=[{"match": "/query", "status": 500, "times": 1}]
    )
    key = customer_key(gw.company().id)

    def hand_the_events_on() -> None:
        # ... but meanwhile its lock lapsed, and the sweeper gave its events to another run.
        with app.app_context():
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                db.session.rollback()
                if db.session.execute(select(Event.status)).scalar() == EventStatus.PROCESSING:
                    break
                time.sleep(0.01)
            db.session.execute(update(Event).values(claim_token="the-next-run"))
            db.session.commit()
            db.session.remove()

    sweeper_and_next_run = threading.Thread(target=hand_the_events_on)
    sweeper_and_next_run.start()
    sync.drain(key)
    sweeper_and_next_run.join()
    gw.platforms.settings("qbo", latency_ms=0)
    [event] = gw.events()
    assert (event.status, event.claim_token, event.reason) == (
        EventStatus.PROCESSING,
        "the-next-run",
        None,
    )


def test_the_sweeper_hands_back_only_the_events_of_the_lapsed_run(app):
    company = add_company("123")
    processing_event(company.id, "lapsed", "run-that-died")
    processing_event(company.id, "live", "run-in-progress")
    processing_event(company.id, "untokened", None)  # claimed before runs had tokens
    db.session.commit()
    lock_name = SyncKey.parse(customer_key(company.id)).lock_name
    with queue.backend().lock(lock_name, timeout=30, wait=1, token="run-in-progress"):
        assert hand_back_orphans() == 1
        assert statuses() == {
            "lapsed": EventStatus.PENDING,
            "live": EventStatus.PROCESSING,
            "untokened": EventStatus.PROCESSING,  # someone holds the lock: maybe its owner
        }
    assert hand_back_orphans() == 2  # the live run ended without finishing them: crashed
    assert set(statuses().values()) == {EventStatus.PENDING}


def test_the_sweeper_does_not_enqueue_a_job_for_a_key_whose_job_is_scheduled(app, client):
    add_mappings()
    realm = add_company("9130350000001").realm_id
    body, headers = signed([cloudevent(realm, "Customer", "7", "updated", "s1")], VERIFIER_TOKEN)
    assert client.post(URL, data=body, headers=headers).status_code == 200
    work = queue.backend()
    assert len(work.queue) == 1
    db.session.execute(update(Event).values(updated_at=utcnow() - timedelta(hours=1)))
    db.session.commit()  # long pending: its job is queued, just not run yet
    assert schedule_due_keys() == 0
    assert len(work.queue) == 1

    work.queue.empty()  # Redis lost the job (a restart without persistence)
    assert schedule_due_keys() == 1
    assert len(work.queue) == 1
    assert schedule_due_keys() == 0

    work.queue.empty()
    key = db.session.execute(select(Event.sync_key)).scalar_one()
    queue.schedule_sync_later(key, 60)  # paused for QuickBooks' rate limit: scheduled, not queued
    assert schedule_due_keys() == 0
    assert len(work.queue) == 0


@pytest.fixture
def hung_redis():
    """A private Redis that stops answering (SIGSTOP) but keeps accepting connections."""
    private = PrivateRedis().start()
    paused = False

    def pause() -> None:
        nonlocal paused
        os.kill(private.process.pid, signal.SIGSTOP)
        paused = True

    def resume() -> None:
        nonlocal paused
        os.kill(private.process.pid, signal.SIGCONT)
        paused = False

    private.pause, private.resume = pause, resume
    yield private
    if paused:
        resume()
    private.stop()


def test_a_lock_that_cannot_be_renewed_for_its_timeout_fails_its_check(
    make_app, app, database_url, hung_redis
):
    gateway = make_app(database_url, hung_redis.url)
    with gateway.app_context(), queue.backend().lock("sync:test", timeout=1.0, wait=1) as lease:
        lease.check()
        hung_redis.pause()  # the heartbeat's renewals hang
        time.sleep(1.2)
        with pytest.raises(LockLost):
            lease.check()
        hung_redis.resume()


def test_a_hung_redis_costs_a_webhook_one_short_timeout(make_app, app, database_url, hung_redis):
    add_mappings(FIVE_ENTITIES_YAML)
    realm = add_company("9130350000002").realm_id
    db.session.remove()
    gateway = make_app(database_url, hung_redis.url)
    client = gateway.test_client()
    entities = ["Customer", "Vendor", "Item", "Employee", "Account"]
    body, headers = signed(
        [cloudevent(realm, e, str(i), "updated", f"h{i}") for i, e in enumerate(entities)],
        VERIFIER_TOKEN,
    )
    with gateway.app_context():
        hung_redis.pause()
        started = time.monotonic()
        response = client.post(URL, data=body, headers=headers)
        elapsed = time.monotonic() - started
        assert response.status_code == 200
        # Intuit wants an answer within 3 s; one short timeout (0.5 s) fits, one per key
        # (five keys, each with redis-py's default retries) would not.
        assert elapsed < 3, elapsed
        assert list(statuses().values()) == [EventStatus.PENDING] * 5
        started = time.monotonic()
        assert client.get("/readyz").json["redis"] == "down"
        assert time.monotonic() - started < 3

        hung_redis.resume()
        assert sweep()["keys"] == 5  # the sweeper enqueues what the webhook could not
        assert len(queue.backend().queue) == 5


def test_a_sweep_hands_back_a_crashed_runs_events_and_enqueues_their_key(app):
    company = add_company("123")
    processing_event(company.id, "1", "run-that-died")
    db.session.commit()
    assert sweep() == {"retried": 0, "orphaned": 1, "keys": 1}
    assert len(queue.backend().queue) == 1
