"""emailbounce: bounces and complaints about the mail we sent; sentemail.message_id indexed for VERP look-ups

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emailbounce",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("inbound_message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("pledge_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_emailbounce_message_id"), "emailbounce", ["message_id"], unique=False)
    op.create_index(op.f("ix_emailbounce_pledge_id"), "emailbounce", ["pledge_id"], unique=False)
    op.create_index(op.f("ix_emailbounce_recipient"), "emailbounce", ["recipient"], unique=False)
    op.create_index(op.f("ix_sentemail_message_id"), "sentemail", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sentemail_message_id"), table_name="sentemail")
    op.drop_index(op.f("ix_emailbounce_recipient"), table_name="emailbounce")
    op.drop_index(op.f("ix_emailbounce_pledge_id"), table_name="emailbounce")
    op.drop_index(op.f("ix_emailbounce_message_id"), table_name="emailbounce")
    op.drop_table("emailbounce")
