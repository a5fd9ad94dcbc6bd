"""/admin/runs: batch runs (start, progress, cancel) and the review list.

Progress is a block the page re-fetches every two seconds while a run is unfinished; starting,
cancelling and resolving go through gateway.batch, which enqueues the work for the worker.
"""

from __future__ import annotations

from flask import Response, redirect, request
from sqlalchemy import select

from gateway import queue
from gateway.batch import review, runs, scheduled_runs
from gateway.errors import error_response
from gateway.extensions import db
from gateway.mapping import QUICKBOOKS_TO_SALESFORCE, SALESFORCE_TO_QUICKBOOKS
from gateway.models import (
    CREATE_NEW,
    BatchRun,
    Company,
    ObjectMapping,
    ReviewItem,
    RunStatus,
    SalesforceOrg,
    utcnow,
)

from . import bp
from .rendering import bad_request, render_page, wants_fragment

RECENT_RUNS = 20


def _eta_seconds(run: BatchRun) -> float | None:
    """Seconds left at the pace so far; None until there is a pace to go by."""
    done = sum((run.counts or {}).values())
    if run.status != RunStatus.RUNNING or not run.started_at or not run.total or done == 0:
        return None
    started = run.started_at
    if started.tzinfo is None:  # SQLite
        started = started.replace(tzinfo=utcnow().tzinfo)
    elapsed = (utcnow() - started).total_seconds()
    return max(0.0, elapsed / done * (run.total - done))


def _context() -> dict:
    recent = list(
        db.session.execute(
            select(BatchRun).order_by(BatchRun.id.desc()).limit(RECENT_RUNS)
        ).scalars()
    )
    return {
        "title": "Batch runs",
        "runs": recent,
        "done": {run.id: sum((run.counts or {}).values()) for run in recent},
        "eta": {run.id: _eta_seconds(run) for run in recent},
        "kinds": runs.KINDS,
        "unfinished": any(run.status not in RunStatus.FINAL for run in recent),
        "reviews": review.open_items(),
        "mappings": list(
            db.session.execute(select(ObjectMapping).order_by(ObjectMapping.name)).scalars()
        ),
        "companies": list(db.session.execute(select(Company).order_by(Company.id)).scalars()),
        "create_new": CREATE_NEW,
        "directions": {
            QUICKBOOKS_TO_SALESFORCE: "QuickBooks → Salesforce",
            SALESFORCE_TO_QUICKBOOKS: "Salesforce → QuickBooks",
        },
        "schedules": scheduled_runs.all_schedules(),
        "salesforce_url": db.session.execute(
            select(SalesforceOrg.instance_url).limit(1)
        ).scalar_one_or_none(),
    }


@bp.get("/runs")
def runs_page():
    return render_page("admin/runs.html", **_context())


@bp.get("/runs/progress")
def runs_progress():
    """The runs table alone (what the page polls); a full page when asked for directly."""
    return render_page("admin/runs.html", block="runs_table", polled=wants_fragment(), **_context())


def _bad(code: str, message: str, form: str) -> Response:
    """The page with `message` by the form it concerns ("start", "review" or "schedule")."""
    return bad_request(
        code,
        message,
        lambda: render_page("admin/runs.html", form_error=(form, message), **_context()),
    )


def _back() -> Response:
    if wants_fragment():
        return render_page("admin/runs.html", **_context())
    return redirect("/admin/runs", code=303)


@bp.post("/runs")
def start_run():
    form = request.form
    mapping = (form.get("mapping") or "").strip()
    if not mapping:
        return _bad("missing_mapping", "Pick the mapping to run.", "start")
    try:
        run = runs.create(
            mapping,
            form.get("company") or None,
            form.get("direction") or QUICKBOOKS_TO_SALESFORCE,
            None,
            form.get("dry_run") == "on",
            trigger="admin",
        )
    except runs.RunError as exc:
        return _bad("cannot_start", str(exc), "start")
    runs.enqueue(run.id)
    return _back()


@bp.post("/runs/<int:run_id>/cancel")
def cancel_run(run_id: int):
    run = db.session.get(BatchRun, run_id)
    if run is None:
        return error_response(404, "no_such_run", f"There is no batch run {run_id}.")
    runs.cancel(run)
    db.session.commit()
    return _back()


@bp.post("/runs/review/<int:item_id>")
def resolve_review(item_id: int):
    item = db.session.get(ReviewItem, item_id)
    if item is None:
        return error_response(404, "no_such_review", f"There is no review item {item_id}.")
    decision = (request.form.get("decision") or "").strip()
    if not decision:
        return _bad("missing_decision", "Pick the matching record, or create a new one.", "review")
    try:
        review.resolve(item, decision)
    except review.ReviewError as exc:
        return _bad("bad_decision", str(exc), "review")
    db.session.commit()  # then enqueue: the job reads the decision
    queue.backend().enqueue("gateway.jobs.apply_review", item.id)
    return _back()


@bp.post("/runs/schedules")
def save_schedule():
    form = request.form
    every = (form.get("every") or "").strip()
    if every and not every.isdigit():
        return _bad("bad_interval", "The interval is a whole number of seconds.", "schedule")
    try:
        scheduled_runs.save(
            (form.get("mapping") or "").strip(),
            form.get("company") or None,
            form.get("direction") or None,
            int(every) if every else None,
            (form.get("cron") or "").strip() or None,
        )
    except scheduled_runs.ScheduleError as exc:
        return _bad("bad_schedule", str(exc), "schedule")
    db.session.commit()
    return _back()


@bp.post("/runs/schedules/<int:schedule_id>/remove")
def remove_schedule(schedule_id: int):
    if not scheduled_runs.remove(schedule_id):
        return error_response(404, "no_such_schedule", f"There is no schedule {schedule_id}.")
    db.session.commit()
    return _back()
