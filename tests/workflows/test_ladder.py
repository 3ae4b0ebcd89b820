"""The ladder's timed steps as pure data (workflows/ladder.py): what happens next and when."""

from __future__ import annotations

import datetime as dt

from tests.factories import open_ended
from workflows.ladder import ladder, report_deadline, upcoming
from workflows.policy import PRESETS
from workflows.state import PledgeState, PledgeStatus, StepName

DAY = dt.timedelta(days=1)
T0 = dt.datetime(2027, 3, 14, 9, 30, tzinfo=dt.UTC)


def state(**fields: object) -> PledgeState:
    values: dict[str, object] = {
        "pledge_id": "PF-TEST01",
        "submission": open_ended(),
        "submitted_at": T0,
        "policy": PRESETS["default"],
    }
    values.update(fields)
    return PledgeState.model_validate(values)


def test_vetting_reminds_then_escalates_then_waits_for_a_person() -> None:
    vetting = state(review_started_at=T0)
    assert [(s.name, s.at - T0) for s in ladder(vetting)] == [
        (StepName.review_reminder, 7 * DAY),
        (StepName.review_escalation, 14 * DAY),
    ]
    assert upcoming(vetting.model_copy(update={"steps_done": ["review_reminder", "review_escalation"]})) is None


def test_a_cycle_runs_request_reminders_overdue_non_reporting_delisting() -> None:
    cycle = state(status=PledgeStatus.published, cycle=2, cycle_due_at=T0)
    assert [(s.name.value, (s.at - T0).days, s.says) for s in ladder(cycle)] == [
        ("request", 0, "report request for cycle 2"),
        ("reminder_1", 14, "reminder 1 to the focal point"),
        ("reminder_2", 30, "reminder 2 to the focal point and backup contact"),
        ("overdue", 45, "report overdue: final notice to every contact"),
        ("non_reporting", 90, "marked non-reporting in the public registry"),
        ("delist", 455, "delisted from the registry"),
    ]
    assert report_deadline(cycle) == T0 + 45 * DAY


def test_an_extension_moves_only_the_steps_not_yet_taken() -> None:
    extended = state(
        status=PledgeStatus.report_due,
        cycle=1,
        cycle_due_at=T0,
        extension_days=20,
        steps_done=["request", "reminder_1"],
    )
    step = upcoming(extended)
    assert step is not None and (step.name, step.at) == (StepName.reminder_2, T0 + 50 * DAY)
    assert report_deadline(extended) == T0 + 65 * DAY


def test_the_final_cycle_ends_instead_of_going_non_reporting() -> None:
    final = state(status=PledgeStatus.report_overdue, cycle=3, cycle_due_at=T0, final_cycle=True,
                  steps_done=["request", "reminder_1", "reminder_2", "overdue"])  # fmt: skip
    assert [s.name for s in ladder(final)][-1] == StepName.final_report_missing
    step = upcoming(final)
    assert step is not None and (step.at, step.says) == (T0 + 90 * DAY, "closed as ended: final report missing")


def test_after_a_report_the_next_step_is_the_next_anniversary() -> None:
    reported = state(status=PledgeStatus.published, cycle=1, cycle_due_at=T0, cycle_reported=True,
                     steps_done=["request"])  # fmt: skip
    step = upcoming(reported)
    assert step is not None and (step.at, step.says) == (T0 + 365 * DAY, "report request for cycle 2")


def test_closed_pledges_have_no_next_step() -> None:
    assert upcoming(state(status=PledgeStatus.closed, cycle=1, cycle_due_at=T0)) is None
