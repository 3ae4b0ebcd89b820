"""The migrations: they build the schema the models describe, and 0002 gives existing pledges the time
their review began, as the review queue used to work it out from the timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel, select

from pledgeflow.core import db
from pledgeflow.core.models import Pledge
from pledgeflow.registry.text_search import FTS_TABLE
from tests.factories import make_submission

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
EVENT = {"actor": "system", "message": "What happened.", "public": True}


def test_the_migrations_form_one_line_from_the_first_to_the_head() -> None:
    """Two migrations written on branches that both follow the same revision leave two heads, and
    ``alembic upgrade head`` then refuses to run at all: each new migration follows the last one."""
    scripts = ScriptDirectory.from_config(db.alembic_config("sqlite://"))
    revisions = list(scripts.walk_revisions())
    assert len(scripts.get_heads()) == 1
    assert [revision.revision for revision in reversed(revisions)] == [f"{n:04d}" for n in range(1, len(revisions) + 1)]


def _not_full_text(name: str | None, type_: str, _parent: object) -> bool:
    """SQLite's FTS5 table of the registry search and its shadow tables are no model's: the migration
    builds them beside ``pledgedocument`` (pledgeflow/registry/text_search.py)."""
    return not (type_ == "table" and name is not None and name.startswith(FTS_TABLE))


def _built_on(dialect: str) -> Callable[..., bool]:
    """A model's index made only on some database (``Index.ddl_if``) is compared only there."""

    def include(obj: object, _name: str | None, _type: str, _reflected: bool, _compare_to: object) -> bool:
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    return include


def test_the_migrations_build_the_schema_the_models_describe(empty_database_url: str) -> None:
    db.upgrade(empty_database_url)
    with db.engine_for(empty_database_url).connect() as connection:
        opts = {
            "compare_type": True,
            "include_name": _not_full_text,
            "include_object": _built_on(connection.dialect.name),
        }
        context = MigrationContext.configure(connection, opts=opts)
        assert compare_metadata(context, SQLModel.metadata) == []


def _pledge(pledge_id: str, status: str) -> dict[str, Any]:
    submission = make_submission()
    return {
        "id": pledge_id,
        "title": submission.title,
        "status": status,
        "pledge_type": submission.pledge_type.value,
        "organization_name": submission.organization.name,
        "organization_type": submission.organization.type.value,
        "organization_country": submission.organization.country,
        "geographic_scope": submission.geographic_scope.value,
        "financial_usd": 0,
        "start_date": submission.start_date,
        "open_ended": True,
        "submission": submission.model_dump(mode="json"),
        "submission_version": 1,
        "submitted_at": T0,
        "cycle": 0,
        "missed_cycles": 0,
        "token_version": 1,
        "updated_at": T0,
    }


def _events(pledge_id: str, *steps: tuple[int, str, str]) -> list[dict[str, Any]]:
    """Timeline rows from (day, kind, status after it)."""
    return [
        {"pledge_id": pledge_id, "seq": seq, "at": T0 + dt.timedelta(days=day), "kind": kind, "status": status, **EVENT}
        for seq, (day, kind, status) in enumerate(steps, start=1)
    ]


def test_0002_sets_when_each_review_round_began_from_the_timeline(empty_database_url: str) -> None:
    db.upgrade(empty_database_url, "0001")
    engine = db.engine_for(empty_database_url)
    tables = sa.MetaData()
    tables.reflect(engine, only=["pledge", "timelineentry"])
    with engine.begin() as connection:
        connection.execute(
            tables.tables["pledge"].insert(),
            [_pledge("PF-WAITS", "in_review"), _pledge("PF-REVISED", "in_review"), _pledge("PF-PUBLIC", "published")],
        )
        connection.execute(
            tables.tables["timelineentry"].insert(),
            [
                *_events("PF-WAITS", (0, "submitted", "in_review"), (7, "review_overdue", "in_review")),
                *_events(
                    "PF-REVISED",
                    (0, "submitted", "in_review"),
                    (2, "changes_requested", "changes_requested"),
                    (5, "revised", "in_review"),
                    (12, "review_overdue", "in_review"),
                ),
                *_events(
                    "PF-PUBLIC",
                    (0, "submitted", "in_review"),
                    (1, "changes_requested", "changes_requested"),
                    (3, "revised", "in_review"),
                    (4, "approved", "published"),
                ),
            ],
        )

    db.upgrade(empty_database_url)

    with db.session_for(empty_database_url) as session:
        started = {pledge.id: pledge.review_started_at for pledge in session.exec(select(Pledge))}
    assert started == {
        "PF-WAITS": T0,  # never left review: since submission
        "PF-REVISED": T0 + dt.timedelta(days=5),  # from the revision on, reminders do not restart it
        "PF-PUBLIC": T0 + dt.timedelta(days=3),  # its last round, ended by the approval
    }


def test_0004_rewrites_timeline_messages_that_named_staff(empty_database_url: str) -> None:
    db.upgrade(empty_database_url, "0002")
    engine = db.engine_for(empty_database_url)
    tables = sa.MetaData()
    tables.reflect(engine, only=["pledge", "timelineentry"])
    named = {
        "approved": ("Approved by vera and sam.", "Approved by vera."),
        "rejected": ("Rejected by vera: The deliverables have no dates.",),
        "changes_requested": ("Changes requested by sam: Add a budget per year.",),
    }
    rows = [
        {**EVENT, "pledge_id": "PF-NAMED", "seq": seq, "at": T0, "kind": kind, "status": "published", "message": text}
        for seq, (kind, text) in enumerate(((kind, text) for kind, texts in named.items() for text in texts), start=1)
    ]
    with engine.begin() as connection:
        pledge = {**_pledge("PF-NAMED", "published"), "review_started_at": T0}
        connection.execute(tables.tables["pledge"].insert(), [pledge])
        connection.execute(tables.tables["timelineentry"].insert(), rows)

    db.upgrade(empty_database_url)

    with engine.connect() as connection:
        messages = (
            connection.execute(sa.text("SELECT message FROM timelineentry WHERE pledge_id = 'PF-NAMED' ORDER BY seq"))
            .scalars()
            .all()
        )
    assert messages == [
        "Approved by the vetting team (2 approvals).",
        "Approved by the vetting team.",
        "Rejected in vetting: The deliverables have no dates.",
        "Changes requested in vetting: Add a budget per year.",
    ]
