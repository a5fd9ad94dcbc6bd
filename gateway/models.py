"""Our own tables: connections, mappings, the events inbox and record links."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from . import crypto
from .dialects import BigId, UTCDateTime
from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class EncryptedTokens:
    """Access and refresh tokens stored encrypted; the properties hand out plaintext."""

    access_token_encrypted: Mapped[str | None]
    refresh_token_encrypted: Mapped[str | None]

    @property
    def access_token(self) -> str | None:
        return crypto.decrypt(self.access_token_encrypted)

    @access_token.setter
    def access_token(self, value: str | None) -> None:
        self.access_token_encrypted = crypto.encrypt(value)

    @property
    def refresh_token(self) -> str | None:
        return crypto.decrypt(self.refresh_token_encrypted)

    @refresh_token.setter
    def refresh_token(self, value: str | None) -> None:
        self.refresh_token_encrypted = crypto.encrypt(value)


class ConnectionStatus:
    CONNECTED = "connected"
    RECONNECT_NEEDED = "reconnect_needed"


class Company(EncryptedTokens, db.Model):
    """One connected QuickBooks Online company (realm)."""

    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    realm_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.CONNECTED)
    status_detail: Mapped[str | None] = mapped_column(Text)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    access_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Company {self.realm_id} {self.status}>"


class SalesforceOrg(EncryptedTokens, db.Model):
    """The one connected Salesforce org."""

    __tablename__ = "salesforce_orgs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[str] = mapped_column(String(18), unique=True)
    instance_url: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(18))  # who the gateway acts as
    status: Mapped[str] = mapped_column(String(32), default=ConnectionStatus.CONNECTED)
    status_detail: Mapped[str | None] = mapped_column(Text)
    access_token_encrypted: Mapped[str | None] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ObjectMapping(db.Model):
    """One named object mapping; `spec` is the normalized dict of gateway.sync_config."""

    __tablename__ = "object_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    quickbooks_type: Mapped[str] = mapped_column(String(64), index=True)
    salesforce_object: Mapped[str] = mapped_column(String(128), index=True)
    direction: Mapped[str] = mapped_column(String(32))
    realtime: Mapped[bool] = mapped_column(Boolean, default=False)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def apply_spec(self, spec: dict[str, Any]) -> None:
        self.name = spec["name"]
        self.quickbooks_type = spec["quickbooks"]
        self.salesforce_object = spec["salesforce"]
        self.direction = spec["direction"]
        # spec["realtime"] is true, false or the realm ids it is on for (gateway.realtime);
        # the column says "on somewhere", so the edges can filter cheaply.
        self.realtime = bool(spec["realtime"])
        self.spec = spec

    def flows_to_salesforce(self) -> bool:
        return self.direction in ("both", "quickbooks_to_salesforce")


class EventStatus:
    PENDING = "pending"
    PROCESSING = "processing"
    SYNCED = "synced"
    SKIPPED = "skipped"
    FAILED = "failed"
    IGNORED = "ignored"
    MALFORMED = "malformed"

    OPEN = (PENDING, PROCESSING)


class Event(db.Model):
    """The inbox: one row per entity change we were told about, kept before we answer 200."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("source", "dedupe_key", name="uq_events_source_dedupe_key"),
        Index("ix_events_sync_key_status", "sync_key", "status"),
        Index("ix_events_status_received_at", "status", "received_at"),
        # The sync log (gateway.event_log): newest first by id within each filter, a record
        # found by its id, the dashboard's last-24-hours aggregate read from the index alone.
        Index("ix_events_status_id", "status", "id"),
        Index("ix_events_company_id_id", "company_id", "id"),
        Index("ix_events_entity_id", "entity", "id"),
        Index("ix_events_record_id", "record_id"),
        Index("ix_events_deleted_id", "deleted_id"),
        Index(
            "ix_events_received_at_summary",
            "received_at",
            postgresql_include=["company_id", "entity", "status"],
        ),
        # Retention walks only the rows that still hold a payload.
        Index(
            "ix_events_payload_kept",
            "received_at",
            postgresql_where=text("payload IS NOT NULL"),
            sqlite_where=text("payload IS NOT NULL"),
        ),
        # Failure groups, filtered by company or not, from this index alone.
        Index(
            "ix_events_failure_causes",
            "entity",
            "failure_cause",
            "company_id",
            postgresql_where=text("status = 'failed'"),
            sqlite_where=text("status = 'failed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # quickbooks | salesforce
    dedupe_key: Mapped[str] = mapped_column(String(255))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="SET NULL"))
    account_id: Mapped[str | None] = mapped_column(String(32))  # realm id (or org id) as sent
    entity: Mapped[str | None] = mapped_column(String(128))
    record_id: Mapped[str | None] = mapped_column(String(64))
    operation: Mapped[str | None] = mapped_column(String(16))
    # From a Salesforce callout: the QuickBooks type it asked for (picks among mappings).
    target_type: Mapped[str | None] = mapped_column(String(64))
    deleted_id: Mapped[str | None] = mapped_column(String(64))  # the record merged away
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Events sharing a sync key are drained together by one job (coalescing).
    sync_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    # The failure reason without what varies per record ("REQUIRED_FIELD_MISSING on
    # Account.Name"), so failures of one cause are grouped and fixed once.
    failure_cause: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retryable: Mapped[bool | None] = mapped_column(Boolean)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The run (and its sync lock's token) that claimed a processing event: a sweeper hands
    # back only the events of a run whose lock lapsed.
    claim_token: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[str | None] = mapped_column(Text)  # this event as received, or the raw body
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    company: Mapped[Company | None] = relationship()

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.entity}/{self.record_id} {self.operation} {self.status}>"


class EventAttempt(db.Model):
    """One try at an event: when, how it ended, the API's error, and what was read and written.

    `source`, `written` and `before` are JSON text; retention empties them after
    EVENT_PAYLOAD_RETENTION_DAYS and keeps the row.
    """

    __tablename__ = "event_attempts"
    __table_args__ = (Index("ix_event_attempts_event_id", "event_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))  # an EventStatus
    reason: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(128))
    error_message: Mapped[str | None] = mapped_column(Text)
    intuit_tid: Mapped[str | None] = mapped_column(String(128))
    target_object: Mapped[str | None] = mapped_column(String(128))
    target_id: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    written: Mapped[str | None] = mapped_column(Text)
    before: Mapped[str | None] = mapped_column(Text)


class RecordLink(db.Model):
    """Ties one QuickBooks record to its Salesforce record, per mapping and company."""

    __tablename__ = "record_links"
    __table_args__ = (
        UniqueConstraint("mapping_id", "company_id", "quickbooks_id", name="uq_links_quickbooks"),
        Index("ix_links_salesforce", "mapping_id", "salesforce_id"),
        # The sync log finds a record's events by either side's id alone.
        Index("ix_links_salesforce_id", "salesforce_id"),
        Index("ix_links_quickbooks_id", "quickbooks_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("object_mappings.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    quickbooks_id: Mapped[str] = mapped_column(String(64))
    salesforce_id: Mapped[str | None] = mapped_column(String(18))
    # Hashes of what we last wrote (or found) on each side; equal content is not written again.
    salesforce_hash: Mapped[str | None] = mapped_column(String(64))
    quickbooks_hash: Mapped[str | None] = mapped_column(String(64))
    quickbooks_sync_token: Mapped[str | None] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into: Mapped[str | None] = mapped_column(String(64))  # survivor's QuickBooks id
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class RunStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    FINAL = (DONE, CANCELLED, FAILED)


class BatchRun(db.Model):
    """One batch run of one mapping for one company and direction, resumable from its checkpoint.

    `next_position` is the QuickBooks query STARTPOSITION of the next page: it moves in the
    transaction that stores the page's links, so a restarted run never redoes a stored page.
    """

    __tablename__ = "batch_runs"
    __table_args__ = (Index("ix_batch_runs_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("object_mappings.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(32))
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # cli | admin | schedule | reconcile (a second with more changes than CDC answers)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.QUEUED)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    next_position: Mapped[int] = mapped_column(Integer, default=1)
    # From Salesforce: the Id of the last record stored (pages are keyset, `Id > checkpoint`)
    checkpoint: Mapped[str | None] = mapped_column(String(18))
    total: Mapped[int | None] = mapped_column(Integer)
    # created, updated, linked, unchanged, review, failed -> record counts
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the same kinds -> a few QuickBooks ids with what happened, for the dry run's report
    samples: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    mapping: Mapped[ObjectMapping] = relationship()
    company: Mapped[Company] = relationship()


class ReviewStatus:
    OPEN = "open"
    RESOLVED = "resolved"


# A review decision meaning "none of the candidates: create a new record".
CREATE_NEW = "create"


class ReviewItem(db.Model):
    """A record whose counterpart on the other side a person must pick (or say "create new"),
    because matching found several candidates or one already claimed by another record.

    A QuickBooks record (quickbooks_id; candidates and decision are Salesforce ids) or, going
    to QuickBooks, a Salesforce record (salesforce_id; candidates and decision QuickBooks ids).
    """

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("mapping_id", "company_id", "quickbooks_id", name="uq_review_record"),
        UniqueConstraint(
            "mapping_id", "company_id", "salesforce_id", name="uq_review_salesforce_record"
        ),
        Index("ix_review_items_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("object_mappings.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("batch_runs.id", ondelete="SET NULL"))
    quickbooks_id: Mapped[str | None] = mapped_column(String(64))
    salesforce_id: Mapped[str | None] = mapped_column(String(18))
    candidates: Mapped[list[str]] = mapped_column(JSON, default=list)  # the other side's ids
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.OPEN)
    decision: Mapped[str | None] = mapped_column(String(18))  # a candidate or CREATE_NEW
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    mapping: Mapped[ObjectMapping] = relationship()
    company: Mapped[Company] = relationship()


class Watermark(db.Model):
    """How far the reconciler has caught up, per company and object on one side: changes
    after `caught_up_to` may still be unseen. Moved only once the work found is stored."""

    __tablename__ = "watermarks"
    __table_args__ = (UniqueConstraint("company_id", "source", "object_name", name="uq_watermark"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(8))  # gateway.sync_key: qbo | sf
    object_name: Mapped[str] = mapped_column(String(128))
    caught_up_to: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class BatchSchedule(db.Model):
    """A mapping run on a schedule for one company and direction ("Schedule Batch
    Integration"): every `interval_seconds`, or at the times of a `cron` expression. Each run
    covers the changes since the last successful one started (less an overlap)."""

    __tablename__ = "batch_schedules"
    __table_args__ = (
        UniqueConstraint("mapping_id", "company_id", "direction", name="uq_batch_schedule"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mapping_id: Mapped[int] = mapped_column(ForeignKey("object_mappings.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(32))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(120))
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # when the last run that finished cleanly started: the next one reads changes since then
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("batch_runs.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    mapping: Mapped[ObjectMapping] = relationship()
    company: Mapped[Company] = relationship()
    last_run: Mapped[BatchRun | None] = relationship()
