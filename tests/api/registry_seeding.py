"""A fresh registry per test, seeded the only way production writes it: through ``project_pledge``.

Import the fixtures into a test module: ``from tests.api.registry_seeding import registry_fixture  # noqa: F401``
(it brings ``registry_url`` along) and ask for ``registry`` or ``registry_url``.
Each test gets its own database (SQLite file or PostgreSQL database) copied from a migrated template made
once per session, so counts and statistics can be checked exactly.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.registry import RegistryActivities
from api.app import create_app
from pledgeflow.core import db, ids
from pledgeflow.core.settings import Settings
from tests.conftest import _psql_admin, make_settings, postgres_database_url, scratch_postgres
from tests.factories import make_report, make_submission
from workflows.projection import PledgeProjection
from workflows.state import ClosureReason, PledgeState, PledgeStatus, ReportRecord, TimelineEvent

EPOCH = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)
FOCAL_EMAIL = "amina@connect-africa.example"
BACKUP_EMAIL = "peter@connect-africa.example"


@functools.cache
def _sqlite_template() -> Path:
    path = Path(tempfile.mkdtemp(prefix="pledgeflow-registry-")) / "template.db"
    url = f"sqlite:///{path}"
    db.upgrade(url)
    db.engine_for(url).dispose()
    with sqlite3.connect(path) as connection:  # fold the WAL into the file before copying it
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    atexit.register(shutil.rmtree, path.parent, ignore_errors=True)
    return path


@functools.cache
def _postgres_template() -> str:
    """A migrated database to copy (CREATE DATABASE ... TEMPLATE is much quicker than migrating)."""
    name = f"pledgeflow_registry_tpl_{uuid.uuid4().hex[:8]}"
    _psql_admin(f'CREATE DATABASE "{name}"')
    url = postgres_database_url(name)
    db.upgrade(url)
    db.engine_for(url).dispose()
    atexit.register(_psql_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return name


@pytest.fixture(name="registry_url", params=["sqlite", "postgres"])
def registry_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated registry of its own for this test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "registry.db"
        shutil.copyfile(_sqlite_template(), path)
        url = f"sqlite:///{path}"
        yield url
        db.engine_for(url).dispose()
        return
    with scratch_postgres("pledgeflow_registry", template=_postgres_template()) as url:
        yield url


@dataclass
class Registry:
    """The app (without Temporal) over a test's registry, and a way to publish pledges into it."""

    url: str
    settings: Settings
    http: httpx.AsyncClient

    def publish(self, **kwargs: Any) -> PledgeState:
        return project(self.url, **kwargs)


@pytest.fixture(name="registry")
async def registry_fixture(registry_url: str, tmp_path: Path) -> AsyncIterator[Registry]:
    settings = make_settings(tmp_path, registry_url, public_base_url="https://registry.example.org")
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Registry(url=registry_url, settings=settings, http=http)


def _events(status: PledgeStatus, submitted_at: dt.datetime, published_at: dt.datetime | None) -> list[TimelineEvent]:
    """A realistic history: public steps, one staff-only note, and a message naming the focal point's address."""
    events = [
        TimelineEvent(
            seq=1,
            at=submitted_at,
            actor="pledger",
            kind="submitted",
            message="Pledge submitted for review.",
            status=PledgeStatus.in_review,
        ),
        TimelineEvent(
            seq=2,
            at=submitted_at + dt.timedelta(hours=1),
            actor="staff:alice",
            kind="approval_recorded",
            message="Checked the budget with the ministry; looks credible.",
            status=PledgeStatus.in_review,
            public=False,
        ),
    ]
    if published_at is not None:
        events += [
            TimelineEvent(
                seq=3,
                at=published_at,
                actor="staff:alice",
                kind="approved",
                message="Approved and published in the registry.",
                status=PledgeStatus.published,
            ),
            TimelineEvent(
                seq=4,
                at=published_at + dt.timedelta(days=365),
                actor="system",
                kind="report_requested",
                message=f"Report request for cycle 1 sent to {FOCAL_EMAIL}.",
                status=PledgeStatus.report_due,
            ),
        ]
    if status == PledgeStatus.closed:
        events.append(
            TimelineEvent(
                seq=len(events) + 1,
                at=(published_at or submitted_at) + dt.timedelta(days=400),
                actor="staff:bob",
                kind="removed",
                message="Closed by the secretariat.",
                status=PledgeStatus.closed,
            )
        )
    return events


def project(
    url: str,
    *,
    status: PledgeStatus = PledgeStatus.published,
    published_at: dt.datetime | None = EPOCH,
    pledge_id: str | None = None,
    cycle: int = 0,
    missed_cycles: int = 0,
    report_cycles: tuple[int, ...] = (),
    closure_reason: ClosureReason | None = None,
    closure_note: str | None = None,
    history: bool = False,
    **submission: Any,
) -> PledgeState:
    """Write one pledge into the registry through the real ``project_pledge`` activity."""
    if status in (PledgeStatus.in_review, PledgeStatus.changes_requested) or closure_reason in (
        ClosureReason.rejected,
        ClosureReason.abandoned,
    ):
        published_at = None  # these never reach publication
    submitted_at = (published_at or EPOCH) - dt.timedelta(days=10)
    reports = [
        ReportRecord(
            cycle=n,
            received_at=(published_at or EPOCH) + dt.timedelta(days=365 * n - 20),
            source="form",
            report=make_report(narrative=f"Cycle {n}: connected 230 schools; questions to {FOCAL_EMAIL} please."),
        )
        for n in report_cycles
    ]
    state = PledgeState(
        pledge_id=pledge_id or ids.new_pledge_id(),
        submission=make_submission(**submission),
        status=status,
        closure_reason=closure_reason,
        closure_note=closure_note,
        submitted_at=submitted_at,
        published_at=published_at,
        cycle=cycle,
        missed_cycles=missed_cycles,
        last_report_at=reports[-1].received_at if reports else None,
        reports=reports,
        timeline=_events(status, submitted_at, published_at) if history else [],
    )
    RegistryActivities(url).project_pledge(PledgeProjection.of(state))
    return state
