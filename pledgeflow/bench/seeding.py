"""A registry of N published pledges, written through the projection's own code in batches.

``seed_registry(url, n, seed)`` builds each pledge's state as its workflow would have it after publication
(some reporting, overdue, non-reporting or closed, so every filter and statistic has rows to find) and
writes it with the projection's upsert, timeline and report steps, many pledges per transaction: the
same rows ``project_pledge`` writes one pledge per transaction, without 100,000 commits.
"""

from __future__ import annotations

import datetime as dt
import random

from activities.registry import _add_events, _add_reports, _upsert_pledge
from pledgeflow.bench import pledges
from pledgeflow.core.db import session_for
from workflows.projection import PledgeProjection
from workflows.state import Actor, ClosureReason, EventKind, PledgeState, PledgeStatus, ReportRecord, TimelineEvent

BATCH = 500
REPORT_AFTER = dt.timedelta(days=350)
EPOCH = dt.datetime(2024, 1, 8, 9, 0, tzinfo=dt.UTC)
# How the public statuses are spread, roughly as in a registry a few years old.
STATUSES = [PledgeStatus.published] * 6 + [
    PledgeStatus.report_due,
    PledgeStatus.report_overdue,
    PledgeStatus.non_reporting,
    PledgeStatus.closed,
]


def pledge_state(n: int, rng: random.Random) -> PledgeState:
    status = rng.choice(STATUSES)
    submitted_at = EPOCH + dt.timedelta(minutes=7 * n)
    published_at = submitted_at + dt.timedelta(days=rng.randint(3, 20))
    reported = rng.random() < 0.5
    timeline = [
        TimelineEvent(
            seq=1,
            at=submitted_at,
            actor=Actor.pledger,
            kind=EventKind.submitted,
            message="Pledge submitted for review.",
            status=PledgeStatus.in_review,
        ),
        TimelineEvent(
            seq=2,
            at=published_at,
            actor=Actor.system,
            kind=EventKind.published,
            message="Published in the registry.",
            status=PledgeStatus.published,
        ),
    ]
    reports = (
        [ReportRecord(cycle=1, received_at=published_at + REPORT_AFTER, source="form", report=pledges.report(n))]
        if reported
        else []
    )
    return PledgeState(
        pledge_id=f"PF-{n:07d}",
        submission=pledges.submission(n, rng),
        status=status,
        closure_reason=ClosureReason.completed if status == PledgeStatus.closed else None,
        submitted_at=submitted_at,
        published_at=published_at,
        cycle=2 if reported else 1,
        missed_cycles=1 if status == PledgeStatus.non_reporting else 0,
        last_report_at=reports[-1].received_at if reports else None,
        reports=reports,
        timeline=timeline,
    )


def seed_registry(url: str, n: int, seed: int) -> None:
    """Write ``n`` published pledges (ids PF-0000000 up) into the migrated registry at ``url``."""
    rng = random.Random(seed)
    for start in range(0, n, BATCH):
        with session_for(url) as session:
            for number in range(start, min(n, start + BATCH)):
                projection = PledgeProjection.of(pledge_state(number, rng))
                _upsert_pledge(session, projection)
                _add_events(session, projection)
                _add_reports(session, projection)
            session.commit()
