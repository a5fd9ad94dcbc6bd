"""`flask events list` and `flask events retry` (design §4)."""

from __future__ import annotations

from sqlalchemy import select

from gateway.extensions import db
from gateway.models import Event, EventStatus
from tests.support.events import add_event


def statuses() -> dict[str, str]:
    db.session.rollback()
    return {e.record_id: e.status for e in db.session.execute(select(Event)).scalars()}


def test_list_prints_the_newest_first_with_filters_and_a_limit(runner):
    add_event(record_id="1", status=EventStatus.SYNCED, reason="created 001A")
    add_event(record_id="2", status=EventStatus.FAILED, reason="REQUIRED_FIELD_MISSING: Name")
    add_event(record_id="3", status=EventStatus.FAILED, reason="INVALID_FIELD: Foo")
    result = runner.invoke(args=["events", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split("\t")[5] for line in lines] == ["3", "2", "1"]
    failed = runner.invoke(args=["events", "list", "--status", "failed", "--limit", "1"])
    [line] = failed.stdout.splitlines()
    assert "(more: --limit 2)" in failed.stderr
    assert "\tfailed\t" in line and "INVALID_FIELD: Foo" in line
    bad = runner.invoke(args=["events", "list", "--status", "broken"])
    assert bad.exit_code == 2 and "status must be one of" in bad.output


def test_retry_moves_the_matching_failures_back_to_pending(runner):
    add_event(record_id="1", status=EventStatus.FAILED)
    add_event(realm="4620", record_id="2", status=EventStatus.FAILED)
    add_event(entity="Invoice", record_id="3", status=EventStatus.FAILED)
    add_event(record_id="4", status=EventStatus.SYNCED)
    result = runner.invoke(args=["events", "retry", "--company", "9130", "--object", "Customer"])
    assert result.exit_code == 0, result.output
    assert "Retried 1 event." in result.output
    assert statuses() == {
        "1": EventStatus.PENDING,
        "2": EventStatus.FAILED,
        "3": EventStatus.FAILED,
        "4": EventStatus.SYNCED,
    }
    result = runner.invoke(args=["events", "retry", "--status", "failed"])
    assert "Retried 2 events." in result.output
    assert runner.invoke(args=["events", "retry", "--status", "synced"]).exit_code == 2
