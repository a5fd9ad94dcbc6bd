"""batch runs, review items, reconciler watermarks, batch schedules

Revision ID: 0003_batch
Revises: 0002_admin_salesforce_user
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_batch"
down_revision = "0002_admin_salesforce_user"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _mapping_and_company() -> list[sa.Column]:
    return [
        sa.Column(
            name,
            sa.Integer(),
            sa.ForeignKey(target, ondelete="CASCADE"),
            nullable=False,
        )
        for name, target in (("mapping_id", "object_mappings.id"), ("company_id", "companies.id"))
    ]


def upgrade():
    op.create_table(
        "batch_runs",
        sa.Column("id", BigId, primary_key=True),
        *_mapping_and_company(),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True)),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("next_position", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer()),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_batch_runs_status", "batch_runs", ["status"])
    op.create_table(
        "review_items",
        sa.Column("id", BigId, primary_key=True),
        *_mapping_and_company(),
        sa.Column("run_id", BigId, sa.ForeignKey("batch_runs.id", ondelete="SET NULL")),
        sa.Column("quickbooks_id", sa.String(64), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(18)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("mapping_id", "company_id", "quickbooks_id", name="uq_review_record"),
    )
    op.create_index("ix_review_items_status", "review_items", ["status"])
    op.create_table(
        "watermarks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "company_id",
            sa.Integer(),
            sa.ForeignKey("companies.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("object_name", sa.String(128), nullable=False),
        sa.Column("caught_up_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("company_id", "source", "object_name", name="uq_watermark"),
    )
    op.create_table(
        "batch_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        *_mapping_and_company(),
        sa.Column("direction", sa.String(32), nullable=False),
        sa.Column("interval_seconds", sa.Integer()),
        sa.Column("cron", sa.String(120)),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True)),
        sa.Column("last_run_id", BigId, sa.ForeignKey("batch_runs.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("mapping_id", "company_id", "direction", name="uq_batch_schedule"),
    )


def downgrade():
    op.drop_table("batch_schedules")
    op.drop_table("watermarks")
    op.drop_index("ix_review_items_status", "review_items")
    op.drop_table("review_items")
    op.drop_index("ix_batch_runs_status", "batch_runs")
    op.drop_table("batch_runs")
