"""pledge.review_started_at: when the pledge's current (or last) review round began

The review queue used to rebuild this from the timeline on every request; the workflow's state has it,
and the projection now writes it. Existing rows get it from their timeline, read the way the queue read
it: a round begins at submission, and again at the first event in review after one outside it (the
revision after changes were requested).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00.000000
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

IN_REVIEW = "in_review"

# The tables as this revision knows them, not as the models may describe them later.
pledge = sa.table(
    "pledge",
    sa.column("id", sa.String),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("review_started_at", sa.DateTime(timezone=True)),
)
timeline = sa.table(
    "timelineentry",
    sa.column("pledge_id", sa.String),
    sa.column("seq", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("status", sa.String),
)


def _review_starts(connection: sa.Connection) -> list[dict[str, Any]]:
    """Each pledge's id and when its current (or last) review round began."""
    started = {pledge_id: at for pledge_id, at in connection.execute(sa.select(pledge.c.id, pledge.c.submitted_at))}
    entries = connection.execute(
        sa.select(timeline.c.pledge_id, timeline.c.at, timeline.c.status).order_by(timeline.c.pledge_id, timeline.c.seq)
    )
    previous: dict[str, str] = {}
    for pledge_id, at, status in entries:
        if status == IN_REVIEW and previous.get(pledge_id, IN_REVIEW) != IN_REVIEW:
            started[pledge_id] = at
        previous[pledge_id] = status
    return [{"pledge_id": pledge_id, "started": at} for pledge_id, at in started.items()]


def upgrade() -> None:
    with op.batch_alter_table("pledge", schema=None) as batch_op:
        batch_op.add_column(sa.Column("review_started_at", sa.DateTime(timezone=True), nullable=True))

    connection = op.get_bind()
    starts = _review_starts(connection)
    if starts:
        fill = sa.update(pledge).where(pledge.c.id == sa.bindparam("pledge_id"))
        connection.execute(fill.values(review_started_at=sa.bindparam("started")), starts)

    with op.batch_alter_table("pledge", schema=None) as batch_op:
        batch_op.alter_column("review_started_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("pledge", schema=None) as batch_op:
        batch_op.drop_column("review_started_at")
