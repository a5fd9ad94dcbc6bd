"""Scheduled batch integration: interval or cron, changes since the last good run, one run
at a time however many workers look."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway import queue
from gateway.batch import scheduled_runs
from gateway.extensions import db
from gateway.models import BatchRun, BatchSchedule, RunStatus
from tests.support.batch import batch_worker
from tests.support.scenario import connect


@pytest.fixture
def gw(app, runner, fakes):
    scenario = connect(app, runner, fakes)
    scenario.platforms.settings("qbo", webhooks_enabled=False)
    return scenario


def make_due(schedule: BatchSchedule) -> None:
    schedule.next_run_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()


def test_a_schedule_runs_everything_first_then_only_what_changed(gw, runner, app):
    app.config["RECONCILE_OVERLAP_SECONDS"] = 0.5
    first = gw.customer(DisplayName="First")
    time.sleep(1.1)  # past the overlap: the second run must not reach back to it
    result = runner.invoke(args=["sync", "schedule", "customers", "--every", "3600"])
    assert result.exit_code == 0 and "every 3600 s" in result.output, result.output
    [schedule] = db.session.execute(select(BatchSchedule)).scalars()
    assert schedule.next_run_at > datetime.now(UTC) + timedelta(minutes=59)
    assert scheduled_runs.start_due() == []  # not due yet

    make_due(schedule)
    [run_id] = scheduled_runs.start_due()
    assert scheduled_runs.start_due() == []  # the next one is an hour away
    batch_worker()
    run = db.session.get(BatchRun, run_id)
    db.session.refresh(run)
    assert (run.status, run.trigger, run.since) == (RunStatus.DONE, "schedule", None)
    assert run.counts["created"] == 1

    time.sleep(1.1)  # LastUpdatedTime has whole seconds
    second = gw.customer(DisplayName="Second")
    make_due(schedule)
    [next_id] = scheduled_runs.start_due()
    batch_worker()
    run = db.session.get(BatchRun, next_id)
    assert run.since is not None  # changes since the last good run, less the overlap
    assert (run.status, run.counts["created"], run.total) == (RunStatus.DONE, 1, 1)
    assert {a["Name"] for a in gw.accounts()} == {"First", "Second"}
    assert gw.account(first["Id"]) and gw.account(second["Id"])


def test_a_due_schedule_waits_for_its_unfinished_run_and_one_process_starts_it(gw):
    row = scheduled_runs.save("customers", None, None, None, "*/5 * * * *")
    db.session.commit()
    assert row.next_run_at.minute % 5 == 0
    make_due(row)
    with queue.backend().lock(scheduled_runs.SCHEDULES_LOCK, timeout=5, wait=0):
        assert scheduled_runs.start_due() == []  # another worker is at it
    [run_id] = scheduled_runs.start_due()
    make_due(row)
    assert scheduled_runs.start_due() == []  # run_id is still queued
    assert db.session.get(BatchRun, run_id).status == RunStatus.QUEUED


def test_bad_schedules_are_clear_errors(gw, runner):
    for args, message in (
        (["customers"], "either an interval in seconds or a cron expression"),
        (["customers", "--every", "5"], "at least 60 seconds"),
        (["customers", "--cron", "every day"], "is not a cron expression"),
        (["nope", "--every", "60"], "no mapping named 'nope'"),
        (["customers", "--every", "60", "--direction", "both"], "runs one way"),
        (["customers", "--every", "60", "--direction", "sideways"], "does not sync sideways"),
    ):
        result = runner.invoke(args=["sync", "schedule", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert runner.invoke(args=["sync", "schedule", "customers", "--every", "60"]).exit_code == 0
    result = runner.invoke(args=["sync", "schedule", "customers", "--off"])
    assert result.exit_code == 0 and "Removed 1" in result.output
    assert db.session.execute(select(BatchSchedule)).first() is None
