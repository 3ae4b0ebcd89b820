"""registry statistics within 200 ms: indexes for the filtered counts, the amounts and the regions

- ``ix_pledge_by_id`` (SQLite): what the statistics read of a pledge, led by its id. A filter on an SDG
  or a country starts from that index table's rows and looks each pledge up here instead of in its wide
  row (the submission before these columns sits in overflow pages). PostgreSQL would walk it for the
  unfiltered counts instead of ``ix_pledge_facets``, at twice the time, and joins well without it.
- ``ix_pledge_amounts``: the pledged amounts above zero as one range, in order, for the median and the
  outlier fence, instead of a walk of every pledge's facets.
- ``ix_pledgeregion_pledge`` (SQLite): the pledges that name a region, counted in pledge order without a
  sort (PostgreSQL's count(DISTINCT) sorts whatever the index).

Indexes only: nothing to backfill.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:45:00.000000
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# As pledgeflow.core.models.STATS_COLUMNS said it when this migration was written.
BY_ID = [
    "id",
    "status",
    "published_at",
    "closure_reason",
    "geographic_scope",
    "organization_type",
    "pledge_type",
    "time_frame",
    "reported_last_due",
    "cycle",
    "financial_usd",
]


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    if _sqlite():
        op.create_index("ix_pledge_by_id", "pledge", BY_ID, unique=False)
        op.create_index("ix_pledgeregion_pledge", "pledgeregion", ["pledge_id", "published_at"], unique=False)
    op.create_index("ix_pledge_amounts", "pledge", ["financial_usd", "published_at", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_pledge_amounts", table_name="pledge")
    if _sqlite():
        op.drop_index("ix_pledgeregion_pledge", table_name="pledgeregion")
        op.drop_index("ix_pledge_by_id", table_name="pledge")
