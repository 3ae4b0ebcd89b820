"""staff sessions and rate-limit counters; public timeline messages name the vetting team, not staff

Staff browser sessions move server-side (``staffsession``), so logout, an idle timeout and a deactivated
account end them; rate-limit counters (``ratelimitcounter``) live in the database so every API process
counts against the same limits. The public timeline used to say "Approved by <staff names>": those
messages are rewritten the way the workflow now writes them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:30:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

timeline = sa.table(
    "timelineentry",
    sa.column("kind", sa.String),
    sa.column("message", sa.String),
    sa.column("public", sa.Boolean),
)


def upgrade() -> None:
    op.create_table(
        "staffsession",
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("key_prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("csrf_secret", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["staffaccount.id"]),
        sa.PrimaryKeyConstraint("id_hash"),
    )
    with op.batch_alter_table("staffsession", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_staffsession_account_id"), ["account_id"], unique=False)

    op.create_table(
        "ratelimitcounter",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("ratelimitcounter", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ratelimitcounter_expires_at"), ["expires_at"], unique=False)

    approved = timeline.c.kind == "approved"
    named = timeline.c.message.like("Approved by %") & timeline.c.message.not_like("Approved by the vetting team%")
    two = "Approved by the vetting team (2 approvals)."
    op.execute(timeline.update().where(approved, named, timeline.c.message.like("% and %")).values(message=two))
    op.execute(timeline.update().where(approved, named).values(message="Approved by the vetting team."))
    # "<Verb> by <name>: <note>" keeps its note; the staff member stays in the staff-only actor column.
    for kind, words in (("rejected", "Rejected in vetting: "), ("changes_requested", "Changes requested in vetting: ")):
        connection = op.get_bind()
        for (message,) in connection.execute(sa.select(timeline.c.message).where(timeline.c.kind == kind)).all():
            if message.startswith(words.split(" in ")[0] + " by ") and ": " in message:
                rewritten = words + message.split(": ", 1)[1]
                connection.execute(
                    timeline.update()
                    .where(timeline.c.kind == kind, timeline.c.message == message)
                    .values(message=rewritten)
                )


def downgrade() -> None:
    with op.batch_alter_table("ratelimitcounter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ratelimitcounter_expires_at"))
    op.drop_table("ratelimitcounter")
    with op.batch_alter_table("staffsession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staffsession_account_id"))
    op.drop_table("staffsession")
