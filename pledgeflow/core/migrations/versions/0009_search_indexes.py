"""registry search within 20 ms: the status, organisation type and scope indexes end in the listing's order

``ix_pledge_status``, ``ix_pledge_organization_type`` and ``ix_pledge_geographic_scope`` held the one
column: a search with one of those filters found every pledge it names there, read each wide row and
sorted them all for a page of 20 (52 ms on SQLite at 100,000 pledges for one organisation type). Each is
replaced by the column, then ``published_at`` and ``id``: the page is walked in the listing's order
(newest publication first) and stops at its last row. Anything the one-column index answered (the review
queue's status, the counts by status) the new one answers from its first column.

Indexes only: nothing to backfill.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 06:00:00.000000
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMNS = ("status", "organization_type", "geographic_scope")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_pledge_{column}_sorted", "pledge", [column, "published_at", "id"], unique=False)
        op.drop_index(f"ix_pledge_{column}", table_name="pledge")


def downgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_pledge_{column}", "pledge", [column], unique=False)
        op.drop_index(f"ix_pledge_{column}_sorted", table_name="pledge")
