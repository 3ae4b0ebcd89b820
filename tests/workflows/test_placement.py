"""Where an imported pledge lands on its ladder (workflows/placement.py): pure, against the default policy's
real durations, with cycles anchored to the original publication."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.factories import make_submission, open_ended, report_data
from workflows.ladder import upcoming
from workflows.placement import place
from workflows.policy import PRESETS, Policy
from workflows.state import ClosureReason, EventKind, ImportedPledge, PledgeState, PledgeStatus, StepName
from workflows.submission import Submission

NOW = dt.datetime(2027, 6, 1, 12, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
YEAR = 365 * DAY


def placed(submission: Submission | None = None, policy: Policy = PRESETS["default"], **imported: Any) -> PledgeState:
    state = PledgeState(pledge_id="PF-2345678", submission=submission or open_ended(), submitted_at=NOW, policy=policy)
    imported.setdefault("submitted_at", imported.get("published_at", NOW) - 30 * DAY)
    place(state, ImportedPledge(key="x", **imported), NOW)
    return state


def report(at: dt.datetime, **overrides: Any) -> dict[str, Any]:
    return {**report_data(**overrides), "received_at": at.isoformat()}


def assert_timeline_in_order(state: PledgeState) -> None:
    assert [event.seq for event in state.timeline] == list(range(1, len(state.timeline) + 1))
    times = [event.at for event in state.timeline]
    assert times == sorted(times) and times[-1] <= NOW


def test_a_fresh_pledge_waits_for_vetting_with_the_reminders_that_fell_due_taken_silently() -> None:
    state = placed(submitted_at=NOW - 20 * DAY)
    assert state.status == PledgeStatus.in_review
    assert state.review_started_at == NOW - 20 * DAY
    assert state.steps_done == [StepName.review_reminder, StepName.review_escalation]
    assert [event.kind for event in state.timeline] == [EventKind.submitted]
    assert upcoming(state) is None, "vetting is never decided automatically"


def test_published_three_years_ago_last_report_two_years_ago_is_non_reporting() -> None:
    published = NOW - 3 * YEAR
    state = placed(published_at=published, last_report_at=NOW - 2 * YEAR)
    # The report, on cycle 1's anniversary, settled cycle 1 before its request went out; cycle 2 fell due a
    # year ago and went overdue and non-reporting; delisting, 365 days after non-reporting, is still ahead.
    assert state.status == PledgeStatus.non_reporting
    assert (state.cycle, state.missed_cycles) == (2, 1)
    assert state.cycle_due_at == published + 2 * YEAR, "cycles stay anchored to the original publication"
    assert state.last_report_at == NOW - 2 * YEAR and state.reports == [], "a report known only by its date"
    step = upcoming(state)
    assert step is not None and (step.name, step.at) == (StepName.delist, published + 2 * YEAR + 90 * DAY + YEAR)
    kinds = [event.kind for event in state.timeline]
    assert kinds == [
        EventKind.submitted,
        EventKind.published,
        EventKind.report_received,
        EventKind.report_requested,
        EventKind.report_overdue,
        EventKind.non_reporting,
    ]
    assert_timeline_in_order(state)
    assert all("before the import" in e.message for e in state.timeline if e.kind == EventKind.report_requested)


def test_published_three_years_ago_never_reported_was_delisted_when_the_policy_says() -> None:
    published = NOW - 3 * YEAR
    state = placed(published_at=published)
    assert (state.status, state.closure_reason) == (PledgeStatus.closed, ClosureReason.delisted)
    assert state.timeline[-1].at == published + YEAR + 90 * DAY + YEAR
    assert (state.cycle, state.missed_cycles) == (1, 1)


def test_reported_last_year_is_published_in_the_next_cycle() -> None:
    published = NOW - 400 * DAY
    state = placed(published_at=published, reports=[report(NOW - 30 * DAY)])
    assert state.status == PledgeStatus.published
    assert (state.cycle, state.missed_cycles, state.cycle_due_at) == (2, 0, published + 2 * YEAR)
    [kept] = state.reports
    assert (kept.cycle, kept.received_at, kept.source) == (1, NOW - 30 * DAY, "import")
    assert state.steps_done == []


@pytest.mark.parametrize(
    ("days_since_request", "status", "missed"),
    [
        (-100, PledgeStatus.published, 0),
        (15, PledgeStatus.report_due, 0),
        (50, PledgeStatus.report_overdue, 1),
        (100, PledgeStatus.non_reporting, 1),
    ],
)
def test_each_point_of_the_first_cycle(days_since_request: int, status: PledgeStatus, missed: int) -> None:
    state = placed(published_at=NOW - YEAR - days_since_request * DAY)
    assert (state.status, state.cycle, state.missed_cycles) == (status, 1, missed)


def test_an_early_report_settles_its_cycle_and_an_earlier_one_is_a_progress_update() -> None:
    published = NOW - 340 * DAY  # cycle 1 due in 25 days: inside the 60-day early window
    state = placed(published_at=published, reports=[report(published + 100 * DAY), report(NOW - DAY)])
    assert (state.status, state.cycle) == (PledgeStatus.published, 2)
    assert [(r.cycle, r.received_at) for r in state.reports] == [(1, published + 100 * DAY), (1, NOW - DAY)]
    assert [e.kind for e in state.timeline][-2:] == [EventKind.progress_update, EventKind.report_received]


def test_a_late_report_reinstates_and_counts_the_anniversaries_passed_as_missed() -> None:
    published = NOW - 4 * YEAR
    late = published + 800 * DAY  # after cycle 2's anniversary, before delisting (day 820)
    state = placed(published_at=published, reports=[report(late)])
    assert (state.cycle, state.missed_cycles) == (3, 3)  # cycle 1 overdue, cycle 2 skipped, cycle 3 overdue
    assert state.status == PledgeStatus.non_reporting
    reinstated = [e for e in state.timeline if e.kind == EventKind.report_received]
    assert reinstated[0].message == "Report for cycle 1 received; the pledge was reinstated."
    [missed] = [e for e in state.timeline if e.kind == EventKind.cycles_missed]
    assert missed.at == late and missed.message == "1 anniversary passed while the pledge was not reporting."


def test_a_report_after_the_policy_delisted_the_pledge_is_kept_as_an_addition() -> None:
    published = NOW - 4 * YEAR
    state = placed(published_at=published, reports=[report(published + 900 * DAY)])
    assert state.closure_reason == ClosureReason.delisted
    assert [r.cycle for r in state.reports] == [1]
    assert state.timeline[-1].kind == EventKind.report_added


def test_the_final_cycle_closes_with_the_final_report_or_without_it() -> None:
    published = NOW - 2 * YEAR
    ends = (NOW - 200 * DAY).date()
    submission = make_submission(start_date=(published - 10 * DAY).date().isoformat(), end_date=ends.isoformat())
    first = report(published + YEAR)
    missing = placed(submission, published_at=published, reports=[first])
    assert (missing.status, missing.closure_reason, missing.closure_note) == (
        PledgeStatus.closed,
        ClosureReason.ended,
        "final report missing",
    )
    assert missing.final_cycle and missing.cycle == 2

    completed = placed(
        submission, published_at=published, reports=[first, report(NOW - 150 * DAY, progress="completed")]
    )
    assert (completed.status, completed.closure_reason) == (PledgeStatus.closed, ClosureReason.completed)
    assert [r.final for r in completed.reports] == [False, True]


def test_discontinued_closes_as_withdrawn() -> None:
    state = placed(published_at=NOW - 400 * DAY, reports=[report(NOW - 30 * DAY, progress="discontinued")])
    assert (state.status, state.closure_reason, state.closure_note) == (
        PledgeStatus.closed,
        ClosureReason.withdrawn,
        "discontinued",
    )


def test_a_closed_pledge_stays_closed_as_the_earlier_registry_said() -> None:
    published = NOW - 3 * YEAR
    reports = [report(published + 300 * DAY), report(published + YEAR + 100 * DAY)]
    state = placed(published_at=published, reports=reports, status="closed", closure_reason="completed")
    assert (state.status, state.closure_reason) == (PledgeStatus.closed, ClosureReason.completed)
    assert [r.cycle for r in state.reports] == [1, 2]
    assert (state.cycle, state.missed_cycles, state.published_at) == (2, 0, published)

    rejected = placed(status="closed", closure_reason="rejected")
    assert (rejected.status, rejected.published_at, rejected.cycle) == (PledgeStatus.closed, None, 0)


def test_changes_requested_starts_its_revision_clock_at_the_import() -> None:
    state = placed(status="changes_requested")
    assert state.status == PledgeStatus.changes_requested
    step = upcoming(state)
    assert step is not None and (step.name, step.at) == (StepName.revision_reminder, NOW + 14 * DAY)


def test_anniversaries_missed_by_the_thousand_are_counted_not_walked() -> None:
    minute = dt.timedelta(minutes=1)
    hourly = Policy(
        name="hourly",
        reporting_interval=60 * minute,
        early_report_window=minute,
        reminder_1_after=10 * minute,
        reminder_2_after=20 * minute,
        overdue_after=30 * minute,
        non_reporting_after=40 * minute,
        delisted_after=5 * YEAR,
    )
    published = NOW - 3 * YEAR
    late = NOW - 10 * DAY - 7 * minute
    state = placed(policy=hourly, published_at=published, reports=[report(late)])
    assert state.cycle_due_at is not None and (state.cycle_due_at - published) % hourly.reporting_interval == 0 * DAY
    assert late < state.cycle_due_at <= late + hourly.reporting_interval
    # Cycle 1 went overdue; the late report found every anniversary up to it passed (missed), and the cycle it
    # opened went overdue within the hour: the pledge now waits, non-reporting, in that cycle.
    assert state.status == PledgeStatus.non_reporting
    assert state.missed_cycles == 1 + ((late - published) // (60 * minute) - 1) + 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"published_at": NOW - YEAR, "submitted_at": NOW}, "published_at: before submitted_at"),
        ({"last_report_at": NOW}, "reports: a pledge that was never published has no reports"),
        ({"published_at": NOW - YEAR, "last_report_at": NOW - 2 * YEAR}, "a report received before published_at"),
        ({"status": "closed"}, "closure_reason: required with status closed"),
        ({"status": "report_due"}, "published_at: required for status report_due"),
        ({"status": "in_review", "published_at": NOW - YEAR}, "status: a pledge in_review has not been published"),
        (
            {"status": "closed", "closure_reason": "rejected", "published_at": NOW - YEAR},
            "closure_reason: a rejected pledge was never published",
        ),
    ],
)
def test_inconsistent_dates_and_statuses_are_refused(fields: dict[str, Any], message: str) -> None:
    fields.setdefault("submitted_at", NOW - 2 * YEAR)
    with pytest.raises(ValueError, match=message):
        ImportedPledge(key="x", **fields)
