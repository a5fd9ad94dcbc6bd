"""batch runs from Salesforce: a string checkpoint, review items sourced from Salesforce

Revision ID: 0005_salesforce_runs
Revises: 0004_synclog
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_salesforce_runs"
down_revision = "0004_synclog"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("batch_runs") as batch:
        # Salesforce pages by Id (keyset), so its checkpoint is the last Id stored
        batch.add_column(sa.Column("checkpoint", sa.String(length=18), nullable=True))
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("salesforce_id", sa.String(length=18), nullable=True))
        batch.alter_column("quickbooks_id", existing_type=sa.String(length=64), nullable=True)
        batch.create_unique_constraint(
            "uq_review_salesforce_record", ["mapping_id", "company_id", "salesforce_id"]
        )


def downgrade():
    op.execute("DELETE FROM review_items WHERE quickbooks_id IS NULL")
    with op.batch_alter_table("review_items") as batch:
        batch.drop_constraint("uq_review_salesforce_record", type_="unique")
        batch.alter_column("quickbooks_id", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("salesforce_id")
    with op.batch_alter_table("batch_runs") as batch:
        batch.drop_column("checkpoint")
