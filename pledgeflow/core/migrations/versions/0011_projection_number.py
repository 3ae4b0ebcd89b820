"""pledge.projection_number: the number of the projection whose values the row has

The SDK runs a local activity again when its workflow is evicted from the worker's cache and replayed while
the activity runs, and the first attempt goes on; committed after the newer projections that follow, it put
an older picture of the pledge back. Projections now carry their number, and the row keeps the highest's.
Existing rows have none: the next projection writes them, whatever its number.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


# Plain ADD and DROP COLUMN on both databases (SQLite has both since 3.35): a batch copy of the table on
# SQLite would drop its triggers (the kept counts, pledgeflow/registry/kept_counts.py).


def upgrade() -> None:
    op.add_column("pledge", sa.Column("projection_number", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("pledge", "projection_number")
