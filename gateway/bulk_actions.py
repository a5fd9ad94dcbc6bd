"""Work on many events at once, in the background: retry all matching a filter, replay a mapping
since a time. Each runs as one job (RQ, or the in-process thread in embedded mode) in small
batches, reports its progress and stops between batches when cancelled.

Progress lives in the queue backend's cache (Redis, shared by every process; memory in embedded
mode) for a day: it describes a job in flight, not a record to keep.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from . import event_log, inbox, queue
from .extensions import db
from .models import Company, Event, ObjectMapping

log = logging.getLogger(__name__)
JOB = "gateway.jobs.run_bulk_action"
BATCH_SIZE = 200
PROGRESS_TTL = 24 * 3600


class UnknownAction(LookupError):
    pass


def _key(action_id: str) -> str:
    return f"bulk-action:{action_id}"


def _save(action_id: str, state: dict[str, Any]) -> None:
    queue.backend().cache_set(_key(action_id), state, PROGRESS_TTL)


def progress(action_id: str) -> dict[str, Any]:
    state = queue.backend().cache_get(_key(action_id))
    if state is None:
        raise UnknownAction(action_id)
    return state


def _start(state: dict[str, Any]) -> str:
    action_id = uuid.uuid4().hex
    _save(action_id, {**state, "id": action_id, "done": 0, "state": "queued", "error": None})
    queue.backend().enqueue(JOB, action_id)
    return action_id


ON_FAILED = ("retry", "resolve")  # the kinds that act on the failed events of a filter
RESOLVED_NOTE = "marked resolved in the admin"


def start_on_failed(kind: str, event_filter: event_log.EventFilter) -> str:
    """Retry, or mark as resolved, every failed event matching the filter; `total` is the
    count the person confirmed."""
    if kind not in ON_FAILED:
        raise ValueError(f"not an action on failed events: {kind!r}")
    return _start(
        {
            "kind": kind,
            "filter": asdict(event_filter),
            "total": event_log.count_failed(event_filter),
        }
    )


def start_replay(mapping: ObjectMapping, since: datetime, company: str | None) -> str:
    """Read again from QuickBooks every record of a mapping that changed since a time."""
    total = db.session.execute(
        select(db.func.count())
        .select_from(Event)
        .where(*_replay_conditions(mapping.quickbooks_type, since, company))
    ).scalar_one()
    return _start(
        {
            "kind": "replay",
            "mapping": mapping.name,
            "entity": mapping.quickbooks_type,
            "since": since.isoformat(),
            "company": company,
            "total": total,
        }
    )


def cancel(action_id: str) -> dict[str, Any]:
    state = progress(action_id)
    if state["state"] in ("queued", "running"):
        # A flag of its own, so the job's progress writes cannot overwrite it.
        queue.backend().cache_set(_key(action_id) + ":cancel", True, PROGRESS_TTL)
        state = {**state, "state": "cancelling"}
        _save(action_id, state)
    return state


def _cancelled(action_id: str) -> bool:
    return bool(queue.backend().cache_get(_key(action_id) + ":cancel"))


def _replay_conditions(entity: str, since: datetime, company: str | None) -> list:
    where = [
        event_log.processed_since(since),
        Event.entity == entity,
        Event.source == "quickbooks",
    ]
    if company:
        where.append(
            Event.company_id
            == select(Company.id).where(Company.realm_id == company).scalar_subquery()
        )
    return where


def run(action_id: str) -> dict[str, Any]:
    """The job: batch after batch until done or cancelled; errors are recorded, then raised."""
    state = progress(action_id)
    if _cancelled(action_id):  # cancelled while it waited in the queue
        state["state"] = "cancelled"
        _save(action_id, state)
        return state
    state["state"] = "running"
    _save(action_id, state)
    try:
        step = _on_failed_batches if state["kind"] in ON_FAILED else _replay_batches
        for done in step(state):
            state["done"] = done
            if _cancelled(action_id):
                state["state"] = "cancelled"
                break
            _save(action_id, state)
        else:
            state["state"] = "finished"
    except Exception as exc:
        db.session.rollback()
        state.update(state="failed", error=str(exc))
        _save(action_id, state)
        raise
    _save(action_id, state)
    log.info("bulk action %s: %s", action_id, state)
    return state


def _retry(ids: list[int]) -> None:
    for key in sorted(inbox.retry(ids)):
        queue.schedule_sync(key)


def _resolve(ids: list[int]) -> None:
    inbox.resolve(ids, RESOLVED_NOTE)


def _on_failed_batches(state: dict[str, Any]) -> Iterator[int]:
    act = _retry if state["kind"] == "retry" else _resolve
    return _each_failed_batch(event_log.EventFilter(**state["filter"]), act)


def retry_matching(event_filter: event_log.EventFilter) -> Iterator[int]:
    """Failed events matching the filter back to pending, a batch at a time, each batch's sync
    keys scheduled; yields how many are done so far (the caller may stop between batches)."""
    return _each_failed_batch(event_filter, _retry)


def _each_failed_batch(event_filter: event_log.EventFilter, act) -> Iterator[int]:
    done, before = 0, None
    while ids := event_log.failed_ids(event_filter, before, BATCH_SIZE):
        act(ids)
        done += len(ids)
        before = ids[-1]
        yield done


def _replay_batches(state: dict[str, Any]):
    since = datetime.fromisoformat(state["since"])
    where = _replay_conditions(state["entity"], since, state["company"])
    done, after, seen = 0, 0, set()
    while True:
        events = list(
            db.session.execute(
                select(Event).where(*where, Event.id > after).order_by(Event.id).limit(BATCH_SIZE)
            ).scalars()
        )
        if not events:
            return
        fresh = []
        for event in events:
            record = (event.company_id, event.record_id)
            if record not in seen:
                seen.add(record)
                fresh.append(event)
        keys = inbox.resync(fresh, f"replay of {state['mapping']} since {since}")
        for key in sorted(keys):
            queue.schedule_sync(key)
        done += len(events)
        after = events[-1].id
        yield done
