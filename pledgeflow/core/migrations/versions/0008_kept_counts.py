"""registry statistics kept: counts tables for the unfiltered /stats, kept by triggers

- ``stats_facet_count``: published pledges per combination of the facets the statistics count;
- ``stats_index_count``: index rows of published pledges per SDG, country and region;
- the triggers on ``pledge`` and the index tables that keep both as rows change (on PostgreSQL, PL/pgSQL
  functions), built by pledgeflow/registry/kept_counts.py, and both tables counted once from the rows.

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
        kept_counts.FACET_TABLE,
        sa.Column("status", sa.String(32), primary_key=True),
        sa.Column("closure_reason", sa.String(32), primary_key=True),
        sa.Column("geographic_scope", sa.String(16), primary_key=True),
        sa.Column("organization_type", sa.String(32), primary_key=True),
        sa.Column("pledge_type", sa.String(32), primary_key=True),
        sa.Column("time_frame", sa.String(16), primary_key=True),
        sa.Column("considered", sa.Integer, primary_key=True),
        sa.Column("with_report", sa.Integer, primary_key=True),
        sa.Column("names_region", sa.Integer, primary_key=True),
        sa.Column("pledges", sa.Integer, nullable=False),
    )
    op.create_table(
        kept_counts.INDEX_TABLE,
        sa.Column("kind", sa.String(16), primary_key=True),
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
    op.drop_table(kept_counts.INDEX_TABLE)
    op.drop_table(kept_counts.FACET_TABLE)
