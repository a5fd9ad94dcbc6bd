"""Retention: payloads pruned after 30 days, rows after 90, failures kept until resolved."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from gateway import retention
from gateway.extensions import db
from gateway.models import Event, EventAttempt, EventStatus, utcnow
from gateway.sweeper import start_thread
from tests.support.events import add_event


def days_ago(days: int):
    return utcnow() - timedelta(days=days)


def with_attempt(event: Event) -> Event:
    db.session.add(
        EventAttempt(
            event_id=event.id,
            outcome=event.status,
            source='{"Id": "1"}',
            written='{"Name": "Acme"}',
            before='{"Name": "Old"}',
        )
    )
    db.session.commit()
    return event


@pytest.fixture
def small_batches(app):
    app.config["RETENTION_BATCH_SIZE"] = 2


def state(event_id: int) -> tuple[bool, str | None, int] | None:
    db.session.rollback()
    event = db.session.get(Event, event_id)
    if event is None:
        return None
    kept = db.session.execute(
        select(func.count())
        .select_from(EventAttempt)
        .where(EventAttempt.event_id == event_id, EventAttempt.written.is_not(None))
    ).scalar_one()
    return event.payload is not None, event.status, kept


def test_payloads_then_rows_are_pruned_and_failures_and_open_work_kept(small_batches):
    recent = with_attempt(add_event(record_id="1", received_at=days_ago(10))).id
    month_old = [
        with_attempt(add_event(record_id=str(n), received_at=days_ago(40))).id for n in (2, 3, 4)
    ]
    quarter_old = [add_event(record_id=str(n), received_at=days_ago(100)) for n in (5, 6, 7)]
    with_attempt(quarter_old[0])
    quarter_old = [event.id for event in quarter_old]
    old_failure = with_attempt(
        add_event(record_id="8", status=EventStatus.FAILED, received_at=days_ago(100))
    ).id
    old_pending = add_event(record_id="9", status=EventStatus.PENDING, received_at=days_ago(100))
    old_pending = old_pending.id
    resolved = add_event(record_id="10", status=EventStatus.IGNORED, received_at=days_ago(100)).id

    result = retention.prune()

    assert result == {"payloads": 3, "events": 4}
    assert state(recent) == (True, EventStatus.SYNCED, 1)
    for event_id in month_old:
        assert state(event_id) == (False, EventStatus.SYNCED, 0)  # the outcome is kept
    for event_id in [*quarter_old, resolved]:
        assert state(event_id) is None
    assert db.session.execute(select(func.count()).select_from(EventAttempt)).scalar_one() == 5
    assert state(old_failure) == (True, EventStatus.FAILED, 1)
    assert state(old_pending) == (True, EventStatus.PENDING, 0)
    assert retention.prune() == {"payloads": 0, "events": 0}


def test_the_detail_page_says_a_payload_was_pruned(admin_client):
    event = with_attempt(add_event(record_id="2", received_at=days_ago(40)))
    retention.prune()
    page = admin_client.get(f"/admin/log/{event.id}").text
    assert "pruned after the retention period" in page


def test_it_runs_once_per_interval_across_processes(app):
    add_event(record_id="1", received_at=days_ago(100))
    assert retention.run_if_due() == {"payloads": 0, "events": 1}
    add_event(record_id="2", received_at=days_ago(100))
    assert retention.run_if_due() is None  # another run within the hour is skipped


def test_the_sweeper_thread_prunes(app):
    old = add_event(record_id="1", received_at=days_ago(100)).id
    stop = threading.Event()
    thread = start_thread(app, stop)
    try:
        deadline = time.monotonic() + 10
        while state(old) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(5)
    assert state(old) is None
