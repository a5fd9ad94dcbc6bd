"""Batch runs: a mapping's records for one company, page by page from a checkpoint.

A run reads its records through a source, one per direction (backfill.QuickBooksSource: one
QuickBooks query of 1,000 records a page; backfill_to_quickbooks.SalesforceSource: one SOQL
query a page, keyset by Id). Each page is synced and stored with the run's counts and
checkpoint in one transaction: a run stopped anywhere resumes at the first page it had not
stored. Only one process works a run at a time (a lock named after it). In the worker each
page is its own job on the batch queue, so real-time jobs queued meanwhile go first.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from .. import queue
from ..connectors import ConnectorError
from ..connectors.quickbooks import Throttled
from ..extensions import db
from ..mapping import QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from ..models import BatchRun, Company, ObjectMapping, RunStatus, utcnow
from ..queue import LockLost, LockTimeout
from ..sync import fenced_by
from .backfill import KINDS, QuickBooksSource
from .backfill_to_quickbooks import SalesforceSource

log = logging.getLogger(__name__)
RUN_JOB = "gateway.jobs.batch_run"
SAMPLE_SIZE = 5
CLI_RETRIES = 5  # a retryable error (a 5xx, a throttle) in an interactive run


class RunError(ValueError):
    """A run that cannot be started; the message says what to do."""


def directions(mapping: ObjectMapping, asked: str | None) -> list[str]:
    """The one-way directions a run of `mapping` covers (`both` is both, in dependency order:
    QuickBooks first, since it is the system of record for accounting)."""
    allowed = (
        [QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS]
        if mapping.direction == "both"
        else [mapping.direction]
    )
    if asked in (None, "both"):
        return allowed
    if asked not in allowed:
        raise RunError(
            f"mapping {mapping.name!r} does not sync {asked} (it flows {mapping.direction})"
        )
    return [asked]


def mapping_named(name: str) -> ObjectMapping:
    """The mapping called `name`; RunError (one wording for the CLI and the page) if none is."""
    mapping = db.session.execute(
        select(ObjectMapping).where(ObjectMapping.name == name)
    ).scalar_one_or_none()
    if mapping is None:
        raise RunError(
            f"no mapping named {name!r} (the Mappings page and flask sync-config export list them)"
        )
    return mapping


def create(
    mapping_name: str,
    realm_id: str | None,
    direction: str,
    since: datetime | None,
    dry_run: bool,
    trigger: str,
) -> BatchRun:
    """A queued run, committed; RunError when it cannot be started."""
    mapping = mapping_named(mapping_name)
    company = company_for(realm_id)
    companies = mapping.spec.get("companies")
    if companies and company.realm_id not in companies:
        raise RunError(f"mapping {mapping_name!r} does not apply to company {company.realm_id}")
    if direction not in (QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS):
        raise RunError(
            f"a run goes one way: {QUICKBOOKS_TO_SALESFORCE} or {SALESFORCE_TO_QUICKBOOKS}"
        )
    directions(mapping, direction)  # a RunError unless the mapping flows that way
    run = BatchRun(
        mapping_id=mapping.id,
        company_id=company.id,
        direction=direction,
        since=since,
        dry_run=dry_run,
        trigger=trigger,
        counts=dict.fromkeys(KINDS, 0),
        samples={},
    )
    db.session.add(run)
    db.session.commit()
    return run


def company_for(realm_id: str | None) -> Company:
    """The company a realm id names, or the only (or default) one when none is given."""
    if realm_id:
        company = db.session.execute(
            select(Company).where(Company.realm_id == realm_id)
        ).scalar_one_or_none()
        if company is None:
            raise RunError(f"no connected company {realm_id}")
        return company
    companies = list(db.session.execute(select(Company).order_by(Company.id)).scalars())
    defaults = [c for c in companies if c.is_default]
    if len(companies) == 1 or len(defaults) == 1:
        return companies[0] if len(companies) == 1 else defaults[0]
    if not companies:
        raise RunError("no QuickBooks company is connected (flask connect quickbooks ...)")
    raise RunError("several companies are connected: say which with --company REALM_ID")


def enqueue(run_id: int) -> None:
    """Make sure one job will work the run (its flag is cleared as the job starts)."""
    work = queue.backend()
    job_id = f"batch-run-{run_id}-{uuid.uuid4().hex}"
    # replace_lost: a flag naming a job Redis lost (or whose work-horse died) is taken over
    ttl = current_app.config["JOB_TIMEOUT_SECONDS"]
    if work.mark_scheduled(f"batch-run:{run_id}", job_id, ttl, replace_lost=True):
        work.enqueue(RUN_JOB, run_id, job_id=job_id, queue_name=queue.BATCH_QUEUE_NAME)


def cancel(run: BatchRun) -> None:
    """Ask the run to stop before its next page; a run nobody works stops at once."""
    if run.status in RunStatus.FINAL:
        return
    run.cancel_requested = True
    if queue.backend().lock_holder(_lock_name(run.id)) is None:
        _finish(run, RunStatus.CANCELLED)


def _lock_name(run_id: int) -> str:
    return f"batch-run:{run_id}"


def execute(
    run_id: int,
    one_page: bool = False,
    progress: Callable[[BatchRun], None] | None = None,
) -> BatchRun | None:
    """Work the run from its checkpoint until it is done, cancelled or failed (or, with
    `one_page`, for one page: the worker's job then schedules the next). None when another
    process is working it."""
    work = queue.backend()
    work.clear_scheduled(f"batch-run:{run_id}")
    try:
        lock_seconds = current_app.config["SYNC_LOCK_SECONDS"]
        with (
            work.lock(_lock_name(run_id), timeout=lock_seconds, wait=1) as lease,
            fenced_by(lease),  # a run whose lock lapsed writes nothing more
        ):
            return _execute_locked(run_id, one_page, progress)
    except LockTimeout:
        log.info("batch run %s is being worked by another process", run_id)
        return None


def _execute_locked(run_id: int, one_page: bool, progress) -> BatchRun:
    run = db.session.get(BatchRun, run_id)
    if run is None or run.status in RunStatus.FINAL:
        return run
    try:
        source = _source(run)
        if run.status == RunStatus.QUEUED:
            run.status, run.started_at = RunStatus.RUNNING, utcnow()
        if run.total is None:
            run.total = source.count()
        db.session.commit()
        page_size = current_app.config["BATCH_PAGE_SIZE"]
        attempts = 0
        while True:
            db.session.refresh(run)  # a cancel asked for by another process
            if run.cancel_requested:
                _finish(run, RunStatus.CANCELLED)
                db.session.commit()
                break
            try:
                records = source.read_page(page_size)
                tally = source.sync(records)
            except ConnectorError as exc:
                db.session.rollback()
                if not exc.retryable or one_page or attempts >= CLI_RETRIES:
                    raise
                attempts += 1
                time.sleep(exc.seconds if isinstance(exc, Throttled) else 2**attempts)
                continue
            attempts = 0
            _add(run, tally, source.id_key)
            source.advance(records)
            run.updated_at = utcnow()  # the heartbeat resume_stalled() looks at
            last = len(records) < page_size
            if last:
                _finish(run, RunStatus.DONE)
                if not run.dry_run:
                    source.finished()
            db.session.commit()
            if progress:
                progress(run)
            if last or one_page:
                break
    except LockLost:
        # Another process took the run over from its checkpoint; this page is its to do.
        db.session.rollback()
        log.warning("batch run %s: lock lost mid-page; left to the process that took it", run_id)
        return run
    except ConnectorError as exc:
        db.session.rollback()
        if exc.retryable and one_page:
            # the page is done again by a later job; the checkpoint is where it was
            delay = exc.seconds if isinstance(exc, Throttled) else 30
            queue.backend().enqueue(RUN_JOB, run_id, delay=delay, queue_name=queue.BATCH_QUEUE_NAME)
            return run
        _fail(run, str(exc))
    except Exception as exc:
        # Never a silent success: the run says what broke, and the job fails too.
        db.session.rollback()
        _fail(run, f"internal error: {exc!r}")
        raise
    return run


def _source(run: BatchRun) -> QuickBooksSource | SalesforceSource:
    """Where the run's records come from, and how its checkpoint moves."""
    if run.direction == SALESFORCE_TO_QUICKBOOKS:
        return SalesforceSource(run)
    return QuickBooksSource(run)


def _add(run: BatchRun, tally: dict[str, tuple[str, str]], id_key: str) -> None:
    counts = dict(run.counts or {})
    samples = {kind: list(items) for kind, items in (run.samples or {}).items()}
    for record_id, (kind, reason) in tally.items():
        counts[kind] = counts.get(kind, 0) + 1
        kept = samples.setdefault(kind, [])
        if len(kept) < SAMPLE_SIZE:
            kept.append({id_key: record_id, "what": reason[:300]})
    run.counts, run.samples = counts, samples  # new objects: JSON columns see the change


def _finish(run: BatchRun, status: str) -> None:
    run.status, run.finished_at = status, utcnow()


def _fail(run: BatchRun, error: str) -> None:
    run = db.session.get(BatchRun, run.id)
    run.error = error
    _finish(run, RunStatus.FAILED)
    db.session.commit()


def summary(run: BatchRun) -> dict:
    """The CLI's --json object (a contract: design.md §4)."""
    counts = run.counts or {}
    end = run.finished_at or utcnow()
    seconds = (end - run.started_at).total_seconds() if run.started_at else 0.0
    return {
        "mapping": run.mapping.name,
        "company": run.company.realm_id,
        "direction": run.direction,
        "dry_run": run.dry_run,
        **{kind: counts.get(kind, 0) for kind in KINDS},
        "seconds": round(seconds, 3),
    }


def resume_stalled() -> list[int]:
    """Runs left unfinished with nobody working them (a worker restarted, Redis lost the
    job): scheduled again, to go on from their checkpoint."""
    # a run created a moment ago may not have taken its lock yet
    stale = current_app.config["SYNC_LOCK_SECONDS"]
    now = utcnow()
    work = queue.backend()
    resumed = []
    rows = db.session.execute(
        select(BatchRun).where(BatchRun.status.in_((RunStatus.QUEUED, RunStatus.RUNNING)))
    ).scalars()
    for run in list(rows):
        updated = run.updated_at
        if updated.tzinfo is None:
            updated = updated.replace(tzinfo=now.tzinfo)
        if (now - updated).total_seconds() < stale or work.lock_holder(_lock_name(run.id)):
            continue
        enqueue(run.id)
        resumed.append(run.id)
    return resumed
