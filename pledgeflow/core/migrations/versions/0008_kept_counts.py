"""registry statistics kept: a counts table for the unfiltered /stats, kept by triggers

- ``stats_count``: published pledges per value of each thing the statistics count, and index rows of
  published pledges per SDG, country and region;
- the triggers on ``pledge`` and the index tables that keep it as rows change (on PostgreSQL, PL/pgSQL
  functions), built by pledgeflow/registry/kept_counts.py, and the table counted once from the rows.

The trigger text comes from that module, not a copy: it is the one definition of what the counts mean. A
later change to it ships a migration of its own that drops the triggers and creates them again (with
``rebuild``); this one then creates the newer text on a fresh database, which that later one replaces.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

from pledgeflow.registry import kept_counts

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        kept_counts.TABLE,
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("pledges", sa.Integer, nullable=False),
    )
    bind = op.get_bind()
    for statement in kept_counts.create_triggers(bind.dialect.name):
        op.execute(statement)
    kept_counts.rebuild(bind)


def downgrade() -> None:
    for statement in kept_counts.drop_triggers(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table(kept_counts.TABLE)
