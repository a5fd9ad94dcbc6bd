"""The sync log: every event findable by filters in the URL, every failure explained, one click
to retry. Queries live in gateway.event_log, the acting in gateway.inbox and
gateway.bulk_actions; this module only turns requests into those calls and pages."""

from __future__ import annotations

import json
from datetime import datetime

from flask import abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from gateway import bulk_actions, event_log, inbox, queue
from gateway.errors import error_response
from gateway.extensions import db
from gateway.models import Company, Event, EventStatus, ObjectMapping

from . import bp
from .rendering import bad_request, render_page, wants_fragment


def _bad_request(code: str, message: str) -> ResponseReturnValue:
    return bad_request(
        code,
        message,
        lambda: render_template("admin/error.html", title="Check the address", message=message),
    )


def _filter_or_error() -> event_log.EventFilter | ResponseReturnValue:
    try:
        return event_log.EventFilter.from_args(request.values)
    except event_log.FilterError as exc:
        return _bad_request(f"invalid_{exc.field}", str(exc))


def _cursor() -> int | None | ResponseReturnValue:
    raw = request.args.get("before", "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 19:
        return _bad_request("invalid_before", "before must be an event id (a whole number)")
    return int(raw)


def _realms() -> list[str]:
    return list(db.session.execute(select(Company.realm_id).order_by(Company.realm_id)).scalars())


def _options(event_filter: event_log.EventFilter) -> dict[str, list[tuple[str, str]]]:
    """What the filter form's selects offer: (value, label) pairs."""
    companies = db.session.execute(
        select(Company.realm_id, Company.name).order_by(Company.realm_id)
    ).all()
    objects = {
        name
        for pair in db.session.execute(
            select(ObjectMapping.quickbooks_type, ObjectMapping.salesforce_object)
        )
        for name in pair
    }
    if event_filter.object:  # a bookmarked object nobody maps any more stays selectable
        objects.add(event_filter.object)
    return {
        "status": [(status, status) for status in event_log.STATUSES],
        "company": [(realm, f"{name or realm} ({realm})") for realm, name in companies],
        "object": [(name, name) for name in sorted(objects)],
        "direction": [
            ("quickbooks_to_salesforce", "QuickBooks → Salesforce"),
            ("salesforce_to_quickbooks", "Salesforce → QuickBooks"),
        ],
    }


@bp.get("/log")
def log_page():
    event_filter = _filter_or_error()
    if not isinstance(event_filter, event_log.EventFilter):
        return event_filter
    before = _cursor()
    if before is not None and not isinstance(before, int):
        return before
    page = event_log.page(event_filter, before)
    context = {
        "title": "Sync log",
        "filter": event_filter,
        "page": page,
        "filtered": bool(event_filter.args()),
        "options": _options(event_filter),
        "groups": [],
    }
    if before is not None:  # "Load more": an HTMX request gets the next rows only
        return render_page("admin/log.html", block="rows", **context)
    if event_filter.status in (None, EventStatus.FAILED) and not event_filter.cause:
        context["groups"] = event_log.failure_groups(event_filter)
    return render_page("admin/log.html", **context)


def _event_or_404(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        abort(404)
    return event


@bp.get("/log/<int:event_id>")
def log_event(event_id: int):
    event = _event_or_404(event_id)
    attempts = event_log.attempts(event)
    last_with_data = next((a for a in reversed(attempts) if a.source or a.written), None)
    before = None
    diff_basis = None
    if last_with_data is not None:
        before = event_log.loads(last_with_data.before)
        diff_basis = "as read from the target before writing"
        if before is None:
            before = event_log.previous_write(event, last_with_data)
            diff_basis = "as we last wrote it" if before is not None else "nothing written before"
    written = event_log.loads(last_with_data.written) if last_with_data else None
    return render_page(
        "admin/log_event.html",
        title=f"Event {event.id}",
        event=event,
        attempts=attempts,
        source=event_log.loads(last_with_data.source) if last_with_data else None,
        written=written,
        diff=event_log.field_diff(before, written) if written is not None else [],
        diff_basis=diff_basis,
        links=event_log.record_links(
            event, current_app.config["QBO_ENVIRONMENT"], attempts[-1] if attempts else None
        ),
        same_record=event_log.same_record(event),
        payload_pruned=event.payload is None,
        payload_text=_readable(event.payload),
    )


def _readable(payload: str | None) -> str | None:
    """JSON as received, indented; a malformed body exactly as it came."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False) if payload else None
    except ValueError:
        return payload


def _back_to(event: Event) -> ResponseReturnValue:
    if wants_fragment():
        # The row or detail that asked is refreshed in place by a full page load of the event.
        return "", 204, {"HX-Redirect": url_for("admin.log_event", event_id=event.id)}
    return redirect(url_for("admin.log_event", event_id=event.id), code=303)


@bp.post("/log/<int:event_id>/retry")
def log_retry(event_id: int):
    event = _event_or_404(event_id)
    if event.status != EventStatus.FAILED:
        return error_response(
            409, "not_failed", f"Event {event.id} is {event.status}; only failed events retry."
        )
    for key in inbox.retry([event.id]):
        queue.schedule_sync(key)
    return _back_to(event)


@bp.post("/log/<int:event_id>/resolve")
def log_resolve(event_id: int):
    event = _event_or_404(event_id)
    if not inbox.resolve([event.id], bulk_actions.RESOLVED_NOTE):
        return error_response(
            409, "not_failed", f"Event {event.id} is {event.status}; only failures are resolved."
        )
    return _back_to(event)


@bp.post("/log/<int:event_id>/resync")
def log_resync(event_id: int):
    event = _event_or_404(event_id)
    keys = inbox.resync([event], f"re-sync of event {event.id} asked in the admin")
    if not keys:
        return error_response(
            409, "cannot_resync", f"Event {event.id} names no record to read again."
        )
    for key in keys:
        queue.schedule_sync(key)
    target = url_for("admin.log_page", q=event.record_id, object=event.entity)
    if wants_fragment():
        return "", 204, {"HX-Redirect": target}
    return redirect(target, code=303)


# -- many at once ---------------------------------------------------------------------------------


# What each action on the failed events of a filter is called on its pages.
ON_FAILED = {"retry-all": "retry", "resolve-all": "resolve"}


@bp.get("/log/<any('retry-all', 'resolve-all'):action>")
def log_on_failed_confirm(action: str):
    event_filter = _filter_or_error()
    if not isinstance(event_filter, event_log.EventFilter):
        return event_filter
    return render_page(
        "admin/log_confirm.html",
        title="Retry all matching" if action == "retry-all" else "Resolve all matching",
        kind=ON_FAILED[action],
        action=action,
        filter=event_filter,
        count=event_log.count_failed(event_filter),
    )


@bp.post("/log/<any('retry-all', 'resolve-all'):action>")
def log_on_failed(action: str):
    event_filter = _filter_or_error()
    if not isinstance(event_filter, event_log.EventFilter):
        return event_filter
    action_id = bulk_actions.start_on_failed(ON_FAILED[action], event_filter)
    return redirect(url_for("admin.log_action", action_id=action_id), code=303)


@bp.route("/log/replay", methods=["GET", "POST"])
def log_replay():
    mappings = list(
        db.session.execute(select(ObjectMapping).order_by(ObjectMapping.name)).scalars()
    )
    realms = _realms()
    error = None
    if request.method == "POST":
        name = request.form.get("mapping", "")
        company = request.form.get("company", "").strip() or None
        mapping = next((m for m in mappings if m.name == name), None)
        try:
            since = event_log.parse_since(request.form.get("since", ""))
        except event_log.FilterError as exc:
            error = str(exc)
        else:
            if mapping is None:
                error = "Choose the mapping to replay."
            elif company and company not in realms:
                error = f"No connected company has the realm id {company}."
            elif since > datetime.now(since.tzinfo):
                error = "The time is in the future: nothing has happened since then."
        if error is None:
            action_id = bulk_actions.start_replay(mapping, since, company)
            return redirect(url_for("admin.log_action", action_id=action_id), code=303)
    page = render_page(
        "admin/log_replay.html", title="Replay since", mappings=mappings, realms=realms, error=error
    )
    return page, 400 if error else 200


def _action_or_404(action_id: str) -> dict:
    if not action_id.isalnum() or len(action_id) > 64:
        abort(404)
    try:
        return bulk_actions.progress(action_id)
    except bulk_actions.UnknownAction:
        abort(404)


@bp.get("/log/actions/<action_id>")
def log_action(action_id: str):
    state = _action_or_404(action_id)
    return render_page(
        "admin/log_action.html",
        block="progress",
        title="Working through events",
        action=state,
        log_filter=event_log.EventFilter(**state["filter"]) if "filter" in state else None,
    )


@bp.post("/log/actions/<action_id>/cancel")
def log_action_cancel(action_id: str):
    _action_or_404(action_id)
    bulk_actions.cancel(action_id)
    return redirect(url_for("admin.log_action", action_id=action_id), code=303)
