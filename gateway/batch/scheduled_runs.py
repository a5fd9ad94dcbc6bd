"""Scheduled batch integration: a mapping run for a company and direction every N seconds or
at the times of a cron expression, each covering the changes since the last successful run.

start_due() runs in every worker's schedule thread; a lock makes one process start each due
run, and a schedule whose previous run is still going waits for it (one run at a time).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from croniter import croniter
from flask import current_app
from sqlalchemy import select

from .. import queue
from ..extensions import db
from ..mapping import QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from ..models import BatchSchedule, RunStatus, utcnow
from . import runs

log = logging.getLogger(__name__)
SCHEDULES_LOCK = "batch-schedules"
MIN_INTERVAL_SECONDS = 60
DIRECTIONS = (QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS)  # what a schedule can run
ONE_WAY = f"--direction {QUICKBOOKS_TO_SALESFORCE} or --direction {SALESFORCE_TO_QUICKBOOKS}"


class ScheduleError(ValueError):
    """A schedule that cannot be saved; the message says what to change."""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_time(interval_seconds: int | None, cron: str | None, after: datetime) -> datetime:
    if cron:
        return _aware(croniter(cron, after).get_next(datetime))
    return after + timedelta(seconds=interval_seconds or 0)


def save(
    mapping_name: str,
    realm_id: str | None,
    direction: str | None,
    interval_seconds: int | None,
    cron: str | None,
) -> BatchSchedule:
    """Create or replace the schedule of (mapping, company, direction); the caller commits."""
    if (interval_seconds is None) == (not cron):
        raise ScheduleError("give either an interval in seconds or a cron expression")
    if interval_seconds is not None and interval_seconds < MIN_INTERVAL_SECONDS:
        raise ScheduleError(f"the interval must be at least {MIN_INTERVAL_SECONDS} seconds")
    if cron and not croniter.is_valid(cron):
        raise ScheduleError(f"{cron!r} is not a cron expression (like '0 2 * * *': 02:00 daily)")
    if direction == "both":
        raise ScheduleError("a schedule runs one way: schedule each direction on its own")
    try:
        mapping = runs.mapping_named(mapping_name)
        if direction is None and mapping.direction == "both":
            # Picking one way for the caller would leave the other unsynced without a word.
            raise runs.RunError(
                f"mapping {mapping_name!r} flows both ways and a schedule runs one way: choose "
                f"the direction ({ONE_WAY}); schedule each direction to run both"
            )
        [way] = runs.directions(mapping, direction)
        company = runs.company_for(realm_id)
    except runs.RunError as exc:
        raise ScheduleError(str(exc)) from exc
    row = db.session.execute(
        select(BatchSchedule).where(
            BatchSchedule.mapping_id == mapping.id,
            BatchSchedule.company_id == company.id,
            BatchSchedule.direction == way,
        )
    ).scalar_one_or_none()
    if row is None:
        row = BatchSchedule(mapping_id=mapping.id, company_id=company.id, direction=way)
        db.session.add(row)
    row.interval_seconds, row.cron = interval_seconds, cron or None
    row.next_run_at = next_time(interval_seconds, cron, utcnow())
    return row


def remove(schedule_id: int) -> bool:
    row = db.session.get(BatchSchedule, schedule_id)
    if row is None:
        return False
    db.session.delete(row)
    return True


def all_schedules() -> list[BatchSchedule]:
    return list(db.session.execute(select(BatchSchedule).order_by(BatchSchedule.id)).scalars())


def start_due() -> list[int]:
    """Start the runs that are due (ids of the runs started); one process at a time."""
    try:
        with queue.backend().lock(
            SCHEDULES_LOCK, timeout=current_app.config["SYNC_LOCK_SECONDS"], wait=0.1
        ):
            return _start_due()
    except queue.LockTimeout:
        return []


def _start_due() -> list[int]:
    now = utcnow()
    overlap = timedelta(seconds=current_app.config["RECONCILE_OVERLAP_SECONDS"])
    started = []
    due = db.session.execute(
        select(BatchSchedule).where(BatchSchedule.next_run_at <= now).order_by(BatchSchedule.id)
    ).scalars()
    for row in list(due):
        last = row.last_run
        if last is not None and last.status not in RunStatus.FINAL:
            continue  # still going: the next one starts once it is done
        if last is not None and last.status == RunStatus.DONE and last.started_at:
            row.watermark = last.started_at
        since = _aware(row.watermark) - overlap if row.watermark else None
        row.next_run_at = next_time(row.interval_seconds, row.cron, now)
        try:
            run = runs.create(
                row.mapping.name, row.company.realm_id, row.direction, since, False, "schedule"
            )
        except runs.RunError as exc:  # the mapping changed since: visible in the worker's log
            log.warning("schedule %s cannot start a run: %s", row.id, exc)
            db.session.commit()
            continue
        row.last_run_id = run.id
        db.session.commit()
        runs.enqueue(run.id)
        started.append(run.id)
    return started
