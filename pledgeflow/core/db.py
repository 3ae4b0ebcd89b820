"""Engine, sessions and migrations for the registry database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_MMAP_BYTES = 1 << 30
CONTAINS = "pledgeflow_contains"


def contains(text: str | None, lowered: str) -> bool | None:
    """SQLite's ``pledgeflow_contains(text, q)``: ``q`` (already lower case) is in ``text``, in any case;
    what the FTS5 trigram index matches, checked on one text (pledgeflow/registry/text_search.py)."""
    return None if text is None else lowered in text.lower()


@lru_cache(maxsize=8)
def engine_for(url: str, synchronous: Literal["FULL", "NORMAL"] = "FULL") -> Engine:
    """The engine of ``url``; on SQLite, its commits wait for the disk (``FULL``), or with ``NORMAL`` only for
    the operating system: such a commit survives the application's crash, not the machine's (sqlite.org/wal).
    The registry's engine is ``FULL``; the send ledger keeps a second one for what it may lose so."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            # Pages read through a memory map, not a read() each: what the registry's index walks cost.
            cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cursor.close()
            dbapi_connection.create_function(CONTAINS, 2, contains, deterministic=True)

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


@lru_cache(maxsize=8)
def reading_engine(url: str) -> Engine:
    """``url``'s engine (its pool, its pre-ping) for a read of one statement, run without a transaction
    around it: on PostgreSQL a page of the registry's search is then two round trips (the pool's ping
    and the query) where a transaction made it four (ping, BEGIN, query, ROLLBACK). Only for reads whose
    statements need not see one snapshot."""
    return engine_for(url).execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def session_for(url: str) -> Iterator[Session]:
    with Session(engine_for(url), expire_on_commit=False) as session:
        yield session


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database to the newest schema (idempotent)."""
    engine_for(url)  # creates the SQLite directory
    command.upgrade(alembic_config(url), revision)


def ping(url: str) -> None:
    """Raise if the database does not answer."""
    with engine_for(url).connect() as connection:
        connection.execute(text("SELECT 1"))
