"""the Salesforce user the gateway acts as, shown on the connections page

Revision ID: 0002_admin_salesforce_user
Revises: 0002_runtime_claim_token
Create Date: 2026-11-26 11:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0002_admin_salesforce_user"
down_revision = "0002_runtime_claim_token"  # the head on main when this was merged
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("salesforce_orgs", sa.Column("user_id", sa.String(length=18), nullable=True))


def downgrade():
    op.drop_column("salesforce_orgs", "user_id")
