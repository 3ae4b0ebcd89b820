"""The counts the database keeps for the unfiltered statistics (pledgeflow/registry/kept_counts.py) stay equal
to the rows, whatever happens to the pledges: transitions, revisions that change their SDGs, countries and
regions, publication, reports, closure, withdrawal from the registry, and many projections at once."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from typing import Any

from sqlmodel import Session, delete

from activities.registry import RegistryActivities, write_projections
from pledgeflow.core import db
from pledgeflow.core.models import Pledge, PledgeCountry, PledgeDocument, PledgeRegion, PledgeSDG, Report, TimelineEntry
from pledgeflow.registry import kept_counts
from pledgeflow.registry.search import RegistryFilters
from pledgeflow.registry.seeding import REGIONS, projections, seed_registry
from tests.api.registry_seeding import registry_url_fixture  # noqa: F401
from tests.registry.test_stats_exact import _computed, _plain
from workflows.projection import PledgeProjection
from workflows.state import ClosureReason, PledgeStatus, ProgressReport, ReportRecord

PUBLIC = [
    (PledgeStatus.published, None),
    (PledgeStatus.report_due, None),
    (PledgeStatus.report_overdue, None),
    (PledgeStatus.non_reporting, None),
    (PledgeStatus.closed, ClosureReason.completed),
    (PledgeStatus.closed, ClosureReason.delisted),
]


def _kept(session: Session) -> dict[str, dict[str, int]]:
    """The non-zero counts, by kind."""
    return {kind: dict(counts) for kind, counts in kept_counts.read(session).items()}


def _recounted(session: Session) -> dict[str, dict[str, int]]:
    """The same, counted again from the rows (in a transaction rolled back after)."""
    kept_counts.rebuild(session.connection())
    recounted = _kept(session)
    session.rollback()
    return recounted


def _moved(rng: random.Random, projection: PledgeProjection) -> PledgeProjection:
    """The pledge a step or a revision later: another status, cycle and report, maybe other SDGs and places."""
    status, reason = rng.choice(PUBLIC)
    changes: dict[str, Any] = {"status": status, "closure_reason": reason, "cycle": rng.randrange(0, 6)}
    changes["events"], changes["reports"] = [], []
    if rng.random() < 0.5:
        revised = projection.submission.model_copy(
            update={
                "sdgs": sorted(rng.sample(range(1, 18), k=rng.randrange(1, 5))),
                "regions": rng.sample(REGIONS, k=rng.choice((0, 1, 2))),
            }
        )
        changes["submission"] = revised
        changes["submission_version"] = projection.submission_version + 1
    if rng.random() < 0.5:
        cycle = max(1, changes["cycle"])
        at = projection.published_at or projection.submitted_at
        report = ProgressReport(progress="on_track", narrative="Moving along as planned, on budget.")
        changes["reports"] = [ReportRecord(cycle=cycle, received_at=at, source="form", report=report)]
    return projection.model_copy(update=changes)


def _not_yet_published(projection: PledgeProjection) -> PledgeProjection:
    return projection.model_copy(update={"status": PledgeStatus.in_review, "published_at": None, "cycle": 0})


def _removed(session: Session, pledge_ids: list[str]) -> None:
    """A pledge deleted from the registry with all its rows (as an operator's cleanup would)."""
    for table in (PledgeSDG, PledgeCountry, PledgeRegion, PledgeDocument, TimelineEntry, Report):
        session.execute(delete(table).where(table.pledge_id.in_(pledge_ids)))  # type: ignore[attr-defined]
    session.execute(delete(Pledge).where(Pledge.id.in_(pledge_ids)))  # type: ignore[attr-defined]


def test_the_kept_counts_follow_every_change_of_the_rows(registry_url: str) -> None:
    rng = random.Random(3)
    seed_registry(registry_url, 150, seed=7)
    pledges = {p.pledge_id: p for p in projections(150, seed=7)}
    waiting = [_not_yet_published(p) for p in projections(40, seed=8)]
    activity = RegistryActivities(registry_url)
    for projection in waiting:  # in review: not counted until published
        activity.project_pledge(projection)
    with db.session_for(registry_url) as session:
        before = _kept(session)
        assert before == _recounted(session)
        assert sum(before["status"].values()) == 150

    published_at = next(iter(pledges.values())).published_at
    for round_ in range(3):
        moved = [_moved(rng, p) for p in rng.sample(sorted(pledges.values(), key=lambda p: p.pledge_id), 60)]
        with db.session_for(registry_url) as session:  # a batch, as the bulk seeding writes
            write_projections(session, moved[:30])
            session.commit()
        for projection in moved[30:]:  # one at a time, as the activity writes
            activity.project_pledge(projection)
        pledges.update({p.pledge_id: p for p in moved})
        for projection in waiting[round_ * 10 : round_ * 10 + 10]:  # these get published now
            published = {"status": PledgeStatus.published, "published_at": published_at, "cycle": 1}
            activity.project_pledge(projection.model_copy(update=published))
    gone = sorted(pledges)[:5]
    with db.session_for(registry_url) as session:
        _removed(session, gone)
        session.commit()

    with db.session_for(registry_url) as session:
        kept = _kept(session)
        assert kept == _recounted(session)
        assert sum(kept["status"].values()) == 150 + 30 - 5
        # and the statistics read from them are the plain computation's
        assert _computed(session, RegistryFilters()) == _plain(session, RegistryFilters())


def _flip(projection: PledgeProjection, step: int) -> PledgeProjection:
    """Back and forth between two facets and two SDG sets, so concurrent writers cross each other's counts."""
    status = PledgeStatus.report_due if step % 2 else PledgeStatus.published
    sdgs = [3, 4] if step % 2 else [4, 13]
    submission = projection.submission.model_copy(update={"sdgs": sdgs})
    return projection.model_copy(update={"status": status, "submission": submission, "cycle": 1 + step % 2})


def _writers(url: str, pledges: list[PledgeProjection], threads: int, steps: int) -> Iterator[BaseException]:
    errors: list[BaseException] = []
    activity = RegistryActivities(url)

    def write(offset: int) -> None:
        try:
            for step in range(steps):
                for projection in pledges[offset::threads]:
                    activity.project_pledge(_flip(projection, step + offset))
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(offset,)) for offset in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    yield from errors


def test_projections_at_once_neither_deadlock_nor_drift(registry_url: str) -> None:
    """Eight threads project pledges that cross between the same two facets in opposite directions at once
    (on PostgreSQL the advisory lock queues them; without it such crossings deadlock)."""
    seed_registry(registry_url, 48, seed=9)
    pledges = list(projections(48, seed=9))
    assert list(_writers(registry_url, pledges, threads=8, steps=6)) == []
    with db.session_for(registry_url) as session:
        kept = _kept(session)
        assert kept == _recounted(session)
        assert sum(kept["status"].values()) == 48
