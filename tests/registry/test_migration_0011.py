"""Migration 0011 adds the pledge row's projection number, and takes it away again, without touching the
kept counts' triggers on the pledge table (a batch copy of the table on SQLite dropped them)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from pledgeflow.core import db

TRIGGERS = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger'",
    "postgresql": "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal",
}


def _triggers(url: str) -> set[str]:
    engine = db.engine_for(url)
    with engine.connect() as connection:
        return set(connection.execute(sa.text(TRIGGERS[engine.dialect.name])).scalars())


def test_0011_downgrades_to_0010_and_back_keeping_the_kept_counts_triggers(empty_database_url: str) -> None:
    db.upgrade(empty_database_url)
    triggers = _triggers(empty_database_url)
    assert any("pledge" in name for name in triggers)
    command.downgrade(db.alembic_config(empty_database_url), "0010")
    columns = {column["name"] for column in sa.inspect(db.engine_for(empty_database_url)).get_columns("pledge")}
    assert "projection_number" not in columns
    assert _triggers(empty_database_url) == triggers
    db.upgrade(empty_database_url)
    assert _triggers(empty_database_url) == triggers
    db.engine_for(empty_database_url).dispose()
