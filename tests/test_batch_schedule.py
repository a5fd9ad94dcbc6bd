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
from gateway.mapping import QUICKBOOKS_TO_SALESFORCE as TO_SALESFORCE
from gateway.mapping import SALESFORCE_TO_QUICKBOOKS as TO_QUICKBOOKS
from gateway.models import BatchRun, BatchSchedule, RunStatus
from tests.support.batch import batch_worker
from tests.support.factories import add_mappings
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
    result = runner.invoke(
        args=["sync", "schedule", "customers", "--every", "3600", "--direction", TO_SALESFORCE]
    )
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
    row = scheduled_runs.save("customers", None, TO_SALESFORCE, None, "*/5 * * * *")
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
    one_way = ["--every", "60", "--direction", TO_SALESFORCE]
    for args, message in (
        (["customers", "--direction", TO_SALESFORCE], "either an interval in seconds or a cron"),
        (["customers", "--every", "5", "--direction", TO_SALESFORCE], "at least 60 seconds"),
        (["customers", "--cron", "every day", "--direction", TO_SALESFORCE], "not a cron expr"),
        (["nope", *one_way], "no mapping named 'nope' (the Mappings page and flask sync-config"),
        (["customers", "--every", "60", "--direction", "both"], "'both' is not one of"),
        (["customers", "--every", "60", "--direction", "sideways"], "'sideways' is not one of"),
    ):
        result = runner.invoke(args=["sync", "schedule", *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    assert db.session.execute(select(BatchSchedule)).first() is None


def test_a_mapping_that_flows_both_ways_is_scheduled_one_way_at_a_time(gw, runner):
    result = runner.invoke(args=["sync", "schedule", "customers", "--every", "60"])
    assert result.exit_code != 0, result.output
    assert "'customers' flows both ways and a schedule runs one way" in result.output
    assert f"--direction {TO_SALESFORCE} or --direction {TO_QUICKBOOKS}" in result.output
    assert db.session.execute(select(BatchSchedule)).first() is None

    for way in (TO_SALESFORCE, TO_QUICKBOOKS):
        result = runner.invoke(
            args=["sync", "schedule", "customers", "--every", "60", "--direction", way]
        )
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"customers ({way}) for company {gw.realm} runs every 60 s")
    saved = db.session.execute(select(BatchSchedule)).scalars()
    assert sorted(row.direction for row in saved) == sorted([TO_SALESFORCE, TO_QUICKBOOKS])

    off = ["sync", "schedule", "customers", "--off"]
    result = runner.invoke(args=[*off, "--direction", TO_QUICKBOOKS])
    assert result.exit_code == 0 and "Removed 1" in result.output, result.output
    [left] = db.session.execute(select(BatchSchedule)).scalars()
    assert left.direction == TO_SALESFORCE
    result = runner.invoke(args=off)  # without --direction: every way
    assert result.exit_code == 0 and "Removed 1" in result.output, result.output
    assert db.session.execute(select(BatchSchedule)).first() is None


def test_a_one_way_mapping_is_scheduled_its_way_by_default(gw, runner):
    add_mappings(
        """
mappings:
  - name: vendors
    quickbooks: Vendor
    salesforce: Account
    direction: salesforce_to_quickbooks
    fields:
      - {quickbooks: DisplayName, salesforce: Name, required: true}
"""
    )
    result = runner.invoke(args=["sync", "schedule", "vendors", "--cron", "0 2 * * *"])
    assert result.exit_code == 0, result.output
    assert f"vendors ({TO_QUICKBOOKS}) for company {gw.realm} runs at '0 2 * * *'" in result.output
    [row] = db.session.execute(select(BatchSchedule)).scalars()
    assert (row.direction, row.cron) == (TO_QUICKBOOKS, "0 2 * * *")

    result = runner.invoke(
        args=["sync", "schedule", "vendors", "--every", "60", "--direction", TO_SALESFORCE]
    )
    assert result.exit_code != 0
    assert f"mapping 'vendors' does not sync {TO_SALESFORCE}" in result.output, result.output
