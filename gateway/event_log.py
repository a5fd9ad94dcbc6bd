"""Reading the events inbox as a log: filters, keyset pages, a record's history, summaries.

Shared by the admin's sync log and dashboard, `flask events` and the bulk retry job, so a filter
means the same thing everywhere. Pages are keyset (newest first by id, `before` = the last id
seen): no OFFSET, and no COUNT over the whole table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, literal_column, select, union

from .extensions import db
from .models import (
    Company,
    Event,
    EventAttempt,
    EventStatus,
    ObjectMapping,
    RecordLink,
    SalesforceOrg,
    utcnow,
)

PAGE_SIZE = 50
STATUSES = (
    EventStatus.PENDING,
    EventStatus.PROCESSING,
    EventStatus.SYNCED,
    EventStatus.SKIPPED,
    EventStatus.FAILED,
    EventStatus.IGNORED,
    EventStatus.MALFORMED,
)
# The direction filter names the flow; an event's source says where the change happened.
DIRECTIONS = {"quickbooks_to_salesforce": "quickbooks", "salesforce_to_quickbooks": "salesforce"}
FILTER_NAMES = ("status", "company", "object", "direction", "since", "q", "cause")


class FilterError(ValueError):
    """A filter value that cannot mean anything; the message says what is accepted."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def parse_since(raw: str) -> datetime:
    """An ISO date or date-time (UTC when it names no zone), or an age like 90m, 24h, 7d."""
    text = raw.strip()
    units = {"m": "minutes", "h": "hours", "d": "days"}
    if text[:-1].isdigit() and text[-1:] in units:
        return utcnow() - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FilterError(
            "since", f"since={raw!r} is not a time: use 2026-11-26T09:00 (UTC), or 90m, 24h, 7d"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class EventFilter:
    status: str | None = None
    company: str | None = None  # a realm id
    object: str | None = None  # the event's entity: a QuickBooks type or a Salesforce object
    direction: str | None = None
    since: str | None = None
    q: str | None = None  # a record id on either side
    cause: str | None = None  # a failure cause, as grouped

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> EventFilter:
        values = {name: (str(args.get(name) or "").strip() or None) for name in FILTER_NAMES}
        found = cls(**values)
        found.validate()
        return found

    def validate(self) -> None:
        if self.status and self.status not in STATUSES:
            raise FilterError("status", f"status must be one of {', '.join(STATUSES)}")
        if self.direction and self.direction not in DIRECTIONS:
            raise FilterError("direction", f"direction must be one of {', '.join(DIRECTIONS)}")
        if self.since:
            parse_since(self.since)
        for name in ("company", "object", "q", "cause"):
            value = getattr(self, name)
            if value and (len(value) > 255 or "\x00" in value):
                raise FilterError(name, f"{name} is too long or holds a NUL character")

    def args(self) -> dict[str, str]:
        """The non-empty filters, as query parameters (for links and bookmarks)."""
        return {name: value for name, value in asdict(self).items() if value}

    def with_(self, **changes: str | None) -> EventFilter:
        return EventFilter(**{**asdict(self), **changes})

    def conditions(self) -> list:
        where = []
        if self.status:
            where.append(Event.status == self.status)
        if self.company:
            realm = select(Company.id).where(Company.realm_id == self.company).scalar_subquery()
            where.append(Event.company_id == realm)
        if self.object:
            where.append(Event.entity == self.object)
        if self.direction:
            where.append(Event.source == DIRECTIONS[self.direction])
        if self.since:
            where.append(Event.received_at >= parse_since(self.since))
        if self.q:
            where.append(Event.id.in_(_ids_of_record(self.q)))
        if self.cause:
            where.append(Event.failure_cause == self.cause)
        return where


def _ids_of_record(record_id: str):
    """Events naming this id, on either side: the record itself, a merge that removed it, or
    the record linked to it on the other platform."""
    linked_quickbooks = select(RecordLink.quickbooks_id).where(
        RecordLink.salesforce_id == record_id
    )
    linked_salesforce = select(RecordLink.salesforce_id).where(
        RecordLink.quickbooks_id == record_id
    )
    return union(
        select(Event.id).where(Event.record_id == record_id),
        select(Event.id).where(Event.deleted_id == record_id),
        select(Event.id).where(Event.record_id.in_(linked_quickbooks)),
        select(Event.id).where(Event.record_id.in_(linked_salesforce)),
    )


def matching(event_filter: EventFilter) -> Select:
    return select(Event).where(*event_filter.conditions())


@dataclass
class Page:
    events: list[Event]
    next_before: int | None  # the cursor of the next page, None on the last


def page(event_filter: EventFilter, before: int | None = None, limit: int = PAGE_SIZE) -> Page:
    query = matching(event_filter)
    if before is not None:
        query = query.where(Event.id < before)
    rows = list(db.session.execute(query.order_by(Event.id.desc()).limit(limit + 1)).scalars())
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def count_failed(event_filter: EventFilter) -> int:
    """How many failed events a retry of this filter would touch (bounded by the failures)."""
    conditions = event_filter.with_(status=EventStatus.FAILED).conditions()
    return db.session.execute(
        select(func.count()).select_from(Event).where(*conditions)
    ).scalar_one()


def failed_ids(event_filter: EventFilter, before: int | None, limit: int) -> list[int]:
    query = select(Event.id).where(*event_filter.with_(status=EventStatus.FAILED).conditions())
    if before is not None:
        query = query.where(Event.id < before)
    return list(db.session.execute(query.order_by(Event.id.desc()).limit(limit)).scalars())


@dataclass
class FailureGroup:
    entity: str | None
    cause: str | None
    count: int


def failure_groups(event_filter: EventFilter | None = None, limit: int = 10) -> list[FailureGroup]:
    """Failures of one cause together, biggest first ("312 events: REQUIRED_FIELD_MISSING on
    Account.Name"), so a person fixes the cause once. Unfiltered, it is read from the partial
    index of failures alone (no table rows)."""
    conditions = (event_filter or EventFilter()).with_(status=EventStatus.FAILED).conditions()
    count = func.count().label("count")
    rows = db.session.execute(
        select(Event.entity, Event.failure_cause, count)
        .where(*conditions)
        .group_by(Event.entity, Event.failure_cause)
        .order_by(count.desc())
        .limit(limit)
    ).all()
    return [FailureGroup(entity, cause, n) for entity, cause, n in rows]


# -- one event -----------------------------------------------------------------------------------


def attempts(event: Event) -> list[EventAttempt]:
    return list(
        db.session.execute(
            select(EventAttempt).where(EventAttempt.event_id == event.id).order_by(EventAttempt.id)
        ).scalars()
    )


def same_record(event: Event, limit: int = 20) -> list[Event]:
    if not event.record_id:
        return []
    return list(
        db.session.execute(
            select(Event)
            .where(
                Event.record_id == event.record_id,
                Event.entity == event.entity,
                Event.company_id == event.company_id
                if event.company_id is not None
                else Event.company_id.is_(None),
                Event.id != event.id,
            )
            .order_by(Event.id.desc())
            .limit(limit)
        ).scalars()
    )


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass
class FieldChange:
    field: str
    before: Any
    after: Any
    changed: bool


def previous_write(event: Event, attempt: EventAttempt) -> dict | None:
    """What we last wrote for this record before this attempt: the target's state as far as
    our writes go, when the sync did not read the target itself."""
    found = db.session.execute(
        select(EventAttempt.written)
        .join(Event, Event.id == EventAttempt.event_id)
        .where(
            Event.record_id == event.record_id,
            Event.entity == event.entity,
            Event.company_id == event.company_id,
            EventAttempt.outcome == EventStatus.SYNCED,
            EventAttempt.written.is_not(None),
            EventAttempt.id < attempt.id,
        )
        .order_by(EventAttempt.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return loads(found)


def field_diff(before: dict | None, after: dict | None) -> list[FieldChange]:
    before, after = before or {}, after or {}
    return [
        FieldChange(name, before.get(name), after.get(name), before.get(name) != after.get(name))
        for name in sorted(set(before) | set(after))
    ]


@dataclass
class RecordLinks:
    quickbooks_id: str | None
    quickbooks_url: str | None
    salesforce_id: str | None
    salesforce_url: str | None


# Where a person opens a record in QuickBooks Online (the app's own detail pages).
_QUICKBOOKS_PAGES = {
    "Customer": "customerdetail?nameId=",
    "Vendor": "vendordetail?nameId=",
    "Employee": "employeedetail?nameId=",
    "Invoice": "invoice?txnId=",
    "SalesReceipt": "salesreceipt?txnId=",
    "Estimate": "estimate?txnId=",
    "Payment": "recvpayment?txnId=",
    "CreditMemo": "creditmemo?txnId=",
    "Bill": "bill?txnId=",
    "PurchaseOrder": "purchaseorder?txnId=",
    "Item": "items?itemId=",
}


def record_links(event: Event, environment: str, last: EventAttempt | None) -> RecordLinks:
    quickbooks_id = event.record_id if event.source == "quickbooks" else None
    quickbooks_entity = event.entity
    salesforce_id = last.target_id if last and event.source == "quickbooks" else None
    if event.source == "salesforce":
        salesforce_id = event.record_id
        if last is not None:  # the QuickBooks record the sync wrote
            quickbooks_id, quickbooks_entity = last.target_id, last.target_object
    if quickbooks_id and event.company_id and not salesforce_id:
        salesforce_id = db.session.execute(
            select(RecordLink.salesforce_id)
            .join(ObjectMapping, ObjectMapping.id == RecordLink.mapping_id)
            .where(
                RecordLink.company_id == event.company_id,
                RecordLink.quickbooks_id == quickbooks_id,
                ObjectMapping.quickbooks_type == event.entity,
            )
            .limit(1)
        ).scalar_one_or_none()
    host = "app.sandbox.qbo.intuit.com" if environment == "sandbox" else "app.qbo.intuit.com"
    quickbooks_page = _QUICKBOOKS_PAGES.get(quickbooks_entity or "")
    quickbooks_url = (
        f"https://{host}/app/{quickbooks_page}{quickbooks_id}"
        if quickbooks_id and quickbooks_page
        else None
    )
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    salesforce_url = f"{org.instance_url}/{salesforce_id}" if org and salesforce_id else None
    return RecordLinks(quickbooks_id, quickbooks_url, salesforce_id, salesforce_url)


# -- the dashboard -------------------------------------------------------------------------------


def _hour(column):
    if db.engine.dialect.name == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    return func.date_trunc("hour", column)


@dataclass
class Summary:
    since: datetime
    counts: dict[tuple[int | None, str | None], dict[str, int]]  # (company id, object) -> status
    hourly: list[tuple[datetime, dict[str, int]]]  # oldest first, one entry per hour
    oldest_pending: datetime | None
    companies: list[Company]
    org: SalesforceOrg | None


def summary(hours: int = 24) -> Summary:
    """Counts per company, object and status, and per hour, over the last `hours` only: one
    scan of the received_at index, whatever the size of the inbox."""
    now = utcnow()
    since = now - timedelta(hours=hours)
    recent = Event.received_at >= since
    counts: dict[tuple[int | None, str | None], dict[str, int]] = {}
    per_hour: dict[datetime, dict[str, int]] = {}
    hour = _hour(Event.received_at).label("hour")
    # One pass over the received_at index (it carries the other columns) feeds both views.
    for bucket, company_id, entity, status, n in db.session.execute(
        select(hour, Event.company_id, Event.entity, Event.status, func.count())
        .where(recent)
        .group_by(literal_column("1"), Event.company_id, Event.entity, Event.status)
    ):
        by_status = counts.setdefault((company_id, entity), {})
        by_status[status] = by_status.get(status, 0) + n
        if isinstance(bucket, str):  # SQLite
            bucket = datetime.fromisoformat(bucket)
        bucket = bucket if bucket.tzinfo else bucket.replace(tzinfo=UTC)
        in_hour = per_hour.setdefault(bucket, {})
        in_hour[status] = in_hour.get(status, 0) + n
    first = since.replace(minute=0, second=0, microsecond=0)
    hourly = [
        (first + timedelta(hours=i), per_hour.get(first + timedelta(hours=i), {}))
        for i in range(hours + 1)
    ]
    oldest = db.session.execute(
        select(func.min(Event.received_at)).where(Event.status == EventStatus.PENDING)
    ).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    companies = list(db.session.execute(select(Company).order_by(Company.realm_id)).scalars())
    org = db.session.execute(select(SalesforceOrg).limit(1)).scalar_one_or_none()
    return Summary(since, counts, hourly, oldest, companies, org)


def processed_since(moment: datetime) -> Any:
    """The events a replay since `moment` reads again: those a sync has finished (synced,
    skipped or failed), not those never processed (ignored, malformed) nor still open."""
    return and_(
        Event.received_at >= moment,
        Event.status.in_((EventStatus.SYNCED, EventStatus.SKIPPED, EventStatus.FAILED)),
    )
