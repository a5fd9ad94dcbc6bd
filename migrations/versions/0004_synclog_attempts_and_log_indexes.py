"""sync log: event attempts, failure causes, indexes for the log and the dashboard

Revision ID: 0004_synclog
Revises: 0003_batch
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_synclog"
down_revision = "0003_batch"
branch_labels = None
depends_on = None

_LOG_INDEXES = (
    ("ix_events_status_id", ["status", "id"]),
    ("ix_events_company_id_id", ["company_id", "id"]),
    ("ix_events_entity_id", ["entity", "id"]),
    ("ix_events_record_id", ["record_id"]),
    ("ix_events_deleted_id", ["deleted_id"]),
)


def upgrade():
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("failure_cause", sa.String(length=255), nullable=True))
    for name, columns in _LOG_INDEXES:
        op.create_index(name, "events", columns)
    op.create_index(
        "ix_events_received_at_summary",
        "events",
        ["received_at"],
        postgresql_include=["company_id", "entity", "status"],
    )
    op.create_index(
        "ix_events_payload_kept",
        "events",
        ["received_at"],
        postgresql_where=sa.text("payload IS NOT NULL"),
        sqlite_where=sa.text("payload IS NOT NULL"),
    )
    op.create_index(
        "ix_events_failure_causes",
        "events",
        ["entity", "failure_cause", "company_id"],
        postgresql_where=sa.text("status = 'failed'"),
        sqlite_where=sa.text("status = 'failed'"),
    )
    op.create_index("ix_links_salesforce_id", "record_links", ["salesforce_id"])
    op.create_index("ix_links_quickbooks_id", "record_links", ["quickbooks_id"])
    bigid = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "event_attempts",
        sa.Column("id", bigid, nullable=False),
        sa.Column("event_id", bigid, nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=128), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("intuit_tid", sa.String(length=128), nullable=True),
        sa.Column("target_object", sa.String(length=128), nullable=True),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("written", sa.Text(), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["events.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_attempts_event_id", "event_attempts", ["event_id", "id"])


def downgrade():
    op.drop_index("ix_event_attempts_event_id", table_name="event_attempts")
    op.drop_table("event_attempts")
    op.drop_index("ix_links_quickbooks_id", table_name="record_links")
    op.drop_index("ix_links_salesforce_id", table_name="record_links")
    op.drop_index("ix_events_failure_causes", table_name="events")
    op.drop_index("ix_events_payload_kept", table_name="events")
    op.drop_index("ix_events_received_at_summary", table_name="events")
    for name, _ in reversed(_LOG_INDEXES):
        op.drop_index(name, table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("failure_cause")
