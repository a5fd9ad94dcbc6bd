"""initial schema: companies, salesforce org, mappings, events inbox, record links

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:58:24.664999

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("realm_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("realm_id"),
    )
    op.create_table(
        "object_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("quickbooks_type", sa.String(length=64), nullable=False),
        sa.Column("salesforce_object", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=32), nullable=False),
        sa.Column("realtime", sa.Boolean(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("object_mappings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_object_mappings_quickbooks_type"), ["quickbooks_type"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_object_mappings_salesforce_object"), ["salesforce_object"], unique=False
        )

    op.create_table(
        "salesforce_orgs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=18), nullable=False),
        sa.Column("instance_url", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_detail", sa.Text(), nullable=True),
        sa.Column("access_token_encrypted", sa.Text(), nullable=True),
        sa.Column("refresh_token_encrypted", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("entity", sa.String(length=128), nullable=True),
        sa.Column("record_id", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=16), nullable=True),
        sa.Column("deleted_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sync_key", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "dedupe_key", name="uq_events_source_dedupe_key"),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_events_status_received_at", ["status", "received_at"], unique=False
        )
        batch_op.create_index("ix_events_sync_key_status", ["sync_key", "status"], unique=False)

    op.create_table(
        "record_links",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mapping_id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("quickbooks_id", sa.String(length=64), nullable=False),
        sa.Column("salesforce_id", sa.String(length=18), nullable=True),
        sa.Column("salesforce_hash", sa.String(length=64), nullable=True),
        sa.Column("quickbooks_hash", sa.String(length=64), nullable=True),
        sa.Column("quickbooks_sync_token", sa.String(length=32), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("merged_into", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mapping_id"], ["object_mappings.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "mapping_id", "company_id", "quickbooks_id", name="uq_links_quickbooks"
        ),
    )
    with op.batch_alter_table("record_links", schema=None) as batch_op:
        batch_op.create_index("ix_links_salesforce", ["mapping_id", "salesforce_id"], unique=False)


def downgrade():
    with op.batch_alter_table("record_links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_salesforce")

    op.drop_table("record_links")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_sync_key_status")
        batch_op.drop_index("ix_events_status_received_at")

    op.drop_table("events")
    op.drop_table("salesforce_orgs")
    with op.batch_alter_table("object_mappings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_object_mappings_salesforce_object"))
        batch_op.drop_index(batch_op.f("ix_object_mappings_quickbooks_type"))

    op.drop_table("object_mappings")
    op.drop_table("companies")
