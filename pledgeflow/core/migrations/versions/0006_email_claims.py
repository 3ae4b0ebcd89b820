"""send ledger: when a delivery was claimed, so a retry can tell a live attempt from a dead one, and when
an operator had a failed one resent

A send now commits a "claimed" row before the message's DATA and "sent" after the server's 250; a retry
that finds the claim compares its age with the SMTP timeout (docs/email.md §3).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sentemail") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resent_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sentemail") as batch:
        batch.drop_column("resent_at")
        batch.drop_column("claimed_at")
