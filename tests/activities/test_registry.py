"""project_pledge: the registry row, its search index, timeline and reports, written idempotently,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
import uuid
from collections import Counter

from sqlalchemy import text
from sqlmodel import col, select
from temporalio.testing import ActivityEnvironment

from activities.registry import RegistryActivities, write_projections
from pledgeflow.core import db
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge, PledgeCountry, PledgeDocument, PledgeRegion, PledgeSDG, Report, TimelineEntry
from tests.conftest import scratch_postgres
from tests.factories import make_report, make_submission
from workflows.projection import PledgeProjection
from workflows.state import PledgeState, PledgeStatus, ReportRecord, TimelineEvent

T0 = dt.datetime(2027, 3, 14, 9, 30, tzinfo=dt.UTC)


def event(seq: int, kind: str, status: PledgeStatus, public: bool = True) -> TimelineEvent:
    return TimelineEvent(
        seq=seq, at=T0 + dt.timedelta(days=seq), actor="system", kind=kind, message=f"{kind}.", status=status,
        public=public,
    )  # fmt: skip


def pledge_state() -> PledgeState:
    return PledgeState(
        pledge_id=f"PF-{uuid.uuid4().hex[:6].upper()}",
        submission=make_submission(),
        submitted_at=T0,
        timeline=[event(1, "submitted", PledgeStatus.in_review)],
    )


def rows(database_url: str, pledge_id: str) -> tuple[Pledge, list[TimelineEntry], list[Report], list[int], list[str]]:
    with session_for(database_url) as session:
        pledge = session.get(Pledge, pledge_id)
        assert pledge is not None
        timeline = list(session.exec(select(TimelineEntry).where(TimelineEntry.pledge_id == pledge_id)))
        reports = list(session.exec(select(Report).where(Report.pledge_id == pledge_id)))
        sdgs = sorted(session.exec(select(PledgeSDG.sdg).where(PledgeSDG.pledge_id == pledge_id)))
        countries = sorted(session.exec(select(PledgeCountry.country).where(col(PledgeCountry.pledge_id) == pledge_id)))
    return pledge, sorted(timeline, key=lambda e: e.seq), reports, sdgs, countries


async def test_projection_writes_the_row_and_each_event_and_report_once(database_url: str) -> None:
    activities = RegistryActivities(database_url)
    environment = ActivityEnvironment()
    state = pledge_state()
    environment.run(activities.project_pledge, PledgeProjection.of(state))

    state.status, state.published_at, state.cycle = PledgeStatus.published, T0 + dt.timedelta(days=2), 1
    state.next_deadline, state.next_step = T0 + dt.timedelta(days=367), "report request for cycle 1"
    state.timeline += [event(2, "approved", PledgeStatus.published), event(3, "published", PledgeStatus.published)]
    state.reports.append(
        ReportRecord(cycle=1, received_at=T0 + dt.timedelta(days=300), source="email", report=make_report())
    )
    update = PledgeProjection.of(state, events_after_seq=1)
    environment.run(activities.project_pledge, update)
    environment.run(activities.project_pledge, update)  # an activity retry after the commit

    pledge, timeline, reports, sdgs, countries = rows(database_url, state.pledge_id)
    assert (pledge.status, pledge.cycle, pledge.next_step) == ("published", 1, "report request for cycle 1")
    assert pledge.published_at is not None
    assert [(e.seq, e.kind, e.status) for e in timeline] == [
        (1, "submitted", "in_review"),
        (2, "approved", "published"),
        (3, "published", "published"),
    ]
    assert [(r.cycle, r.source, r.progress, r.details["beneficiaries_reached"]) for r in reports] == [
        (1, "email", "on_track", 86_000)
    ]
    assert (sdgs, countries) == ([4, 9], ["KEN"])


async def test_a_revised_submission_replaces_the_search_index(database_url: str) -> None:
    activities = RegistryActivities(database_url)
    state = pledge_state()
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state))

    state.submission = make_submission(sdgs=[5, 17], sdg_targets=[], countries=["KEN", "UGA"])
    state.submission_version = 2
    state.timeline.append(event(2, "revised", PledgeStatus.in_review, public=False))
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state, events_after_seq=1))

    pledge, timeline, _, sdgs, countries = rows(database_url, state.pledge_id)
    assert (pledge.submission_version, sdgs, countries) == (2, [5, 17], ["KEN", "UGA"])
    assert [(e.kind, e.public) for e in timeline] == [("submitted", True), ("revised", False)]


async def test_the_review_round_start_is_projected_and_kept_from_a_projection_without_it(database_url: str) -> None:
    activities = RegistryActivities(database_url)
    state = pledge_state()
    state.review_started_at = T0
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state))
    assert rows(database_url, state.pledge_id)[0].review_started_at == T0

    revised_at = T0 + dt.timedelta(days=5)
    state.review_started_at, state.submission_version = revised_at, 2
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state))
    assert rows(database_url, state.pledge_id)[0].review_started_at == revised_at

    # Projections a worker from before the field existed scheduled: a row keeps the time it has, and a
    # pledge just submitted is in its first round, which began at submission.
    def without_it(state: PledgeState) -> PledgeProjection:
        return PledgeProjection.model_validate(PledgeProjection.of(state).model_dump(exclude={"review_started_at"}))

    ActivityEnvironment().run(activities.project_pledge, without_it(state))
    assert rows(database_url, state.pledge_id)[0].review_started_at == revised_at
    newcomer = pledge_state()
    ActivityEnvironment().run(activities.project_pledge, without_it(newcomer))
    assert rows(database_url, newcomer.pledge_id)[0].review_started_at == newcomer.submitted_at


def _search_rows(database_url: str, pledge_id: str) -> tuple[list[str], list[tuple[int, dt.datetime | None]], bool]:
    with session_for(database_url) as session:
        documents = list(session.exec(select(PledgeDocument.document).where(PledgeDocument.pledge_id == pledge_id)))
        regions = list(session.exec(select(PledgeRegion.region).where(PledgeRegion.pledge_id == pledge_id)))
        keys = [
            (row.sdg, row.published_at)
            for row in session.exec(select(PledgeSDG).where(PledgeSDG.pledge_id == pledge_id))
        ]
        pledge = session.get(Pledge, pledge_id)
        assert pledge is not None
        return documents + regions, sorted(keys), pledge.reported_last_due


async def test_search_text_regions_sort_keys_and_the_reporting_flag_follow_the_pledge(database_url: str) -> None:
    activities = RegistryActivities(database_url)
    state = pledge_state()
    state.submission = make_submission(regions=["Eastern Africa"], sdgs=[4], sdg_targets=[])
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state))
    texts, keys, reported = _search_rows(database_url, state.pledge_id)
    assert "Connecting 500 rural schools" in texts[0] and "Ministry of ICT" in texts[0]  # title and a partner
    assert "200 schools connected" in texts[0] and texts[1:] == ["Eastern Africa"]  # a deliverable; the region
    assert (keys, reported) == ([(4, None)], False)

    published_at = T0 + dt.timedelta(days=2)
    state.status, state.published_at, state.cycle = PledgeStatus.published, published_at, 1
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state, events_after_seq=1))
    assert _search_rows(database_url, state.pledge_id)[1] == [(4, published_at)]  # the listing's sort key

    state.submission = make_submission(title="Solar kiosks for 80 clinics", sdgs=[4, 7], sdg_targets=[], regions=[])
    state.reports.append(
        ReportRecord(cycle=1, received_at=T0 + dt.timedelta(days=300), source="form", report=make_report())
    )
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state, events_after_seq=1))
    texts, keys, reported = _search_rows(database_url, state.pledge_id)
    assert len(texts) == 1 and texts[0].startswith("Solar kiosks for 80 clinics\n")
    assert (keys, reported) == ([(4, published_at), (7, published_at)], True)

    state.status = PledgeStatus.report_due  # cycle 2 requested: cycle 1's report still counts
    state.cycle = 2
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state, events_after_seq=1))
    assert _search_rows(database_url, state.pledge_id)[2] is True
    state.status = PledgeStatus.report_overdue  # cycle 2 is now the one due, and unreported
    ActivityEnvironment().run(activities.project_pledge, PledgeProjection.of(state, events_after_seq=1))
    assert _search_rows(database_url, state.pledge_id)[2] is False


def _records(database_url: str, pledge_id: str) -> tuple[dict[str, object] | None, list[str] | None]:
    pledge, *_ = rows(database_url, pledge_id)
    shown = json.loads(pledge.public_json) if pledge.public_json else None
    return shown, json.loads(pledge.public_csv) if pledge.public_csv else None


async def test_the_export_records_follow_every_write_of_the_row(database_url: str) -> None:
    """What the exports stream is written with the row: none in review, the public shape once published,
    and again at each transition (here the reporting ladder), not only when the submission changes."""
    activities = RegistryActivities(database_url)
    environment = ActivityEnvironment()
    state = pledge_state()
    state.submission = make_submission(description="Write to amina@connect-africa.example for the plan.")
    environment.run(activities.project_pledge, PledgeProjection.of(state))
    assert _records(database_url, state.pledge_id) == (None, None)

    state.status, state.published_at, state.cycle = PledgeStatus.published, T0 + dt.timedelta(days=2), 1
    environment.run(activities.project_pledge, PledgeProjection.of(state))
    shown, line = _records(database_url, state.pledge_id)
    assert shown is not None and line is not None
    assert (shown["status"], shown["traffic_light"], shown["missed_cycles"]) == ("published", "green", 0)
    assert shown["description"] == "Write to [e-mail withheld] for the plan."
    assert "links" not in shown
    head, tail = line
    assert head.startswith(f"{state.pledge_id},") and head.endswith(",")
    assert tail == ",Write to [e-mail withheld] for the plan.\r\n"

    state.status, state.missed_cycles = PledgeStatus.report_overdue, 1
    environment.run(activities.project_pledge, PledgeProjection.of(state))
    shown, line = _records(database_url, state.pledge_id)
    assert shown is not None and line is not None
    assert (shown["status"], shown["traffic_light"], shown["missed_cycles"]) == ("report_overdue", "yellow", 1)
    assert ",report_overdue,yellow," in line[0]


def test_projections_cancelled_at_any_moment_finish_and_leave_every_pooled_connection_working() -> None:
    """A worker shutting down cancels its running activities. A threaded activity is cancelled by an exception
    the SDK raises in its thread, wherever that lands: inside the database driver mid-statement it failed the
    projection with "another command is already in progress" and could hand a connection still busy with its
    statement back to the pool, where the next checkout failed ("can't change 'autocommit' now: connection in
    transaction status ACTIVE"), as one CI run did. The registry's activities opt out of that exception, so a
    projection cancelled at any moment completes, and every pooled connection works after it."""
    chance = random.Random(10)
    with scratch_postgres("pledgeflow_cancel") as url:
        db.upgrade(url)
        activities = RegistryActivities(url)
        outcomes: Counter[str] = Counter()
        for _ in range(60):
            environment = ActivityEnvironment()
            projection = PledgeProjection.of(pledge_state())
            thread = threading.Thread(target=_project, args=(environment, activities, projection, outcomes))
            thread.start()
            time.sleep(chance.uniform(0, 0.03))  # sometimes before its first statement, mostly during one
            environment.cancel()
            thread.join(timeout=30)
        engine = db.engine_for(url)
        connections = [engine.connect() for _ in range(engine.pool.size())]  # type: ignore[attr-defined]
        try:
            assert [connection.execute(text("SELECT 1")).scalar() for connection in connections] == [1] * 10
        finally:
            for connection in connections:
                connection.close()
        assert outcomes == Counter(completed=60), outcomes


def _project(
    environment: ActivityEnvironment,
    activities: RegistryActivities,
    projection: PledgeProjection,
    outcomes: Counter[str],
) -> None:
    try:
        environment.run(activities.project_pledge, projection)
        outcomes["completed"] += 1
    except Exception as exc:
        outcomes[type(exc).__name__] += 1


def test_two_attempts_of_one_projection_at_once_write_it_once_and_both_succeed(database_url: str) -> None:
    """The SDK can run one local activity twice at once (a scratch run's log: "Tried to complete untracked
    local activity" after a first workflow task of six seconds). On SQLite the second attempt read the registry
    before the first committed, then inserted the same pledge row and failed with "UNIQUE constraint failed:
    pledge.id", a retry later. Writers now queue before they read, on SQLite as on PostgreSQL, so the second
    finds the first's rows and writes nothing twice."""
    state = pledge_state()
    projection = PledgeProjection.of(state)
    failures: list[BaseException] = []

    def second_attempt() -> None:
        try:
            RegistryActivities(database_url).project_pledge(projection)
        except BaseException as exc:
            failures.append(exc)

    with session_for(database_url) as first:
        write_projections(first, [projection])  # not committed yet: the second attempt starts meanwhile
        thread = threading.Thread(target=second_attempt)
        thread.start()
        time.sleep(0.5)
        first.commit()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert failures == []
    _, timeline, _, _, _ = rows(database_url, state.pledge_id)
    assert [entry.seq for entry in timeline] == [1]


def test_an_attempt_run_late_cannot_put_an_older_picture_of_the_pledge_back(database_url: str) -> None:
    """A local activity whose workflow was evicted and replayed while it ran goes on running: the replay sends
    the same projection again, the workflow moves on and projects newer state, and the first attempt may
    commit after all of that. Each projection carries its number; the row keeps the newest's values. The
    old attempt's events still go in (written once), since they are the workflow's too."""
    activities = RegistryActivities(database_url)
    environment = ActivityEnvironment()
    state = pledge_state()
    in_review = PledgeProjection.of(state).model_copy(update={"number": 1})
    environment.run(activities.project_pledge, in_review)
    state.status, state.published_at, state.cycle = PledgeStatus.published, T0 + dt.timedelta(days=2), 1
    state.timeline.append(event(2, "published", PledgeStatus.published))
    published = PledgeProjection.of(state, events_after_seq=1).model_copy(update={"number": 2})
    environment.run(activities.project_pledge, published)

    environment.run(activities.project_pledge, in_review)  # the late attempt

    pledge, timeline, _, sdgs, _ = rows(database_url, state.pledge_id)
    assert (pledge.status, pledge.cycle, pledge.projection_number) == ("published", 1, 2)
    assert [entry.seq for entry in timeline] == [1, 2]
    assert sdgs  # the late attempt did not take the index rows away either
    # A projection without a number (a worker from before numbers) writes as before.
    environment.run(activities.project_pledge, in_review.model_copy(update={"number": None}))
    assert rows(database_url, state.pledge_id)[0].status == "in_review"
