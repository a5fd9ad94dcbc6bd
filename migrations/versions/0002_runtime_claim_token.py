"""events.claim_token: the run that claimed a processing event

A sweeper hands back only the events of a run whose lock lapsed, never those a live run has
claimed under the same sync key since.

Revision ID: 0002_runtime_claim_token
Revises: 0002_lead
Create Date: 2026-11-26 10:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_runtime_claim_token"
down_revision = "0002_lead"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_token", sa.String(length=32), nullable=True))


def downgrade():
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("claim_token")
