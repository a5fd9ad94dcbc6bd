"""the QuickBooks type a Salesforce callout asked for

Revision ID: 0002_lead
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_lead"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("target_type", sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table("events") as batch:
        batch.drop_column("target_type")
