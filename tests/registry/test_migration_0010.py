"""Migration 0010 gives the search text of pledges already in the registry what the projection now writes:
the listing's sort key, and on PostgreSQL the lowered text the trigram index is built on. Then a text is
matched from that index and a text-only page walks the documents in the listing's order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import col, select

from pledgeflow.core import db
from pledgeflow.core.models import Pledge, PledgeDocument
from pledgeflow.registry import search
from pledgeflow.registry.search import CursorCodec, RegistryFilters
from tests.conftest import scratch_postgres
from tests.factories import make_submission

T0 = dt.datetime(2024, 3, 2, 9, 0, tzinfo=dt.UTC)
PLEDGES = 600  # enough rows for PostgreSQL's planner to weigh the indexes against each other


def _rows(number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A published pledge's row and its search text as 0009 stored them; one in a hundred is about Joal."""
    place = "the fishing town of Joal" if number % 100 == 0 else f"district {number}"
    data = make_submission(title=f"Connecting schools in {place}")
    pledge_id = f"PF-{number:06d}"
    pledge = {
        "id": pledge_id,
        "title": data.title,
        "status": "published",
        "pledge_type": data.pledge_type.value,
        "organization_name": data.organization.name,
        "organization_type": data.organization.type.value,
        "organization_country": data.organization.country,
        "geographic_scope": data.geographic_scope.value,
        "financial_usd": 0,
        "start_date": data.start_date,
        "open_ended": True,
        "time_frame": "open_ended",
        "reported_last_due": False,
        "submission": data.model_dump(mode="json"),
        "submission_version": 1,
        "submitted_at": T0,
        "review_started_at": T0,
        "published_at": T0 + dt.timedelta(hours=number),
        "cycle": 1,
        "missed_cycles": 0,
        "token_version": 1,
        "updated_at": T0,
    }
    document = {"pledge_id": pledge_id, "document": f"{data.title}\n{data.organization.name}\n{data.description}"}
    return pledge, document


def _upgrade_with_existing_pledges(url: str) -> None:
    db.upgrade(url, "0009")
    engine = db.engine_for(url)
    tables = sa.MetaData()
    tables.reflect(engine, only=["pledge", "pledgedocument"])
    pledges, documents = zip(*(_rows(number) for number in range(1, PLEDGES + 1)), strict=True)
    with engine.begin() as connection:
        connection.execute(tables.tables["pledge"].insert(), list(pledges))
        connection.execute(tables.tables["pledgedocument"].insert(), list(documents))
    db.upgrade(url)


def _plan(connection: sa.Connection, query: Any) -> str:
    compiled = query.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(connection.execute(sa.text(f"EXPLAIN {compiled}")).scalars())


def test_0010_fills_the_sort_key_and_the_lowered_text_of_existing_search_text(empty_database_url: str) -> None:
    _upgrade_with_existing_pledges(empty_database_url)

    with db.session_for(empty_database_url) as session:
        published = dict(session.exec(select(Pledge.id, Pledge.published_at)).all())
        for document in session.exec(select(PledgeDocument)):
            assert document.published_at == published[document.pledge_id]
            if session.get_bind().dialect.name == "postgresql":
                assert document.folded == document.document.lower()
        codec = CursorCodec(b"k" * 32)
        joal = [f"PF-{number:06d}" for number in range(PLEDGES, 0, -100)]
        rows, _ = search.search(session, codec, RegistryFilters(q="JOAL"), 20, None)
        assert [row.id for row in rows] == joal
        rows, cursor = search.search(session, codec, RegistryFilters(q="schools"), 20, None)
        assert [row.id for row in rows] == [f"PF-{n:06d}" for n in range(PLEDGES, PLEDGES - 20, -1)]
        assert cursor is not None
    db.engine_for(empty_database_url).dispose()


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    """The plan test's own database: the plans asked about are PostgreSQL's (SQLite keeps its FTS5 path, which
    the test above shows still answers)."""
    with scratch_postgres("pledgeflow_empty") as url:
        yield url


def test_0010_on_postgresql_matches_from_the_trigram_index_and_walks_the_sorted_one(empty_postgres_url: str) -> None:
    empty_database_url = empty_postgres_url
    _upgrade_with_existing_pledges(empty_database_url)

    with db.session_for(empty_database_url) as session:
        connection = session.connection()
        connection.execute(sa.text("ANALYZE pledge, pledgedocument"))
        # At 600 rows reading the table is cheapest; what is shown is that the indexes answer these queries.
        connection.execute(sa.text("SET LOCAL enable_seqscan = off"))
        rare = sa.select(sa.func.count()).select_from(Pledge).where(*search.conditions(RegistryFilters(q="Joal")))
        assert "ix_pledgedocument_folded_trgm" in _plan(connection, rare)
        page = search._in_order(select(col(Pledge.id)), session, RegistryFilters(q="schools"), 21, None)
        assert "Index Scan Backward using ix_pledgedocument_sorted" in _plan(connection, page)
    db.engine_for(empty_database_url).dispose()


def test_0010_downgrades_to_0009_and_back(empty_database_url: str) -> None:
    db.upgrade(empty_database_url)
    command.downgrade(db.alembic_config(empty_database_url), "0009")
    inspector = sa.inspect(db.engine_for(empty_database_url))
    assert {"folded", "published_at"}.isdisjoint(column["name"] for column in inspector.get_columns("pledgedocument"))
    indexes = {index["name"] for index in inspector.get_indexes("pledgedocument")}
    if inspector.dialect.name == "postgresql":
        assert "ix_pledgedocument_trgm" in indexes
    assert not {"ix_pledgedocument_folded_trgm", "ix_pledgedocument_sorted"} & indexes
    db.upgrade(empty_database_url)
    db.engine_for(empty_database_url).dispose()
