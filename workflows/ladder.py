"""The escalation ladder as data: which timed steps the current stage has, and when.

Pure functions of :class:`PledgeState` and its policy, so the workflow, its query and the tests all
agree on what happens next. A step's time is derived, never stored: an extension moves every step
not yet taken, and a resumed run (after continue-as-new) finds its place from ``state.steps_done``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from workflows.policy import Policy
from workflows.state import CYCLE_STATUSES, PledgeState, PledgeStatus, StepName

# Steps after which the pledge's status changes: the report deadline a pledger is told about.
CONSEQUENTIAL = (StepName.overdue, StepName.non_reporting, StepName.final_report_missing, StepName.delist)


@dataclass(frozen=True)
class Step:
    name: StepName
    at: dt.datetime
    says: str  # what happens then, in words: "reminder 1 to the focal point"


def format_utc(at: dt.datetime) -> str:
    """A moment as operators read it in summaries and details: ``2027-03-14 09:00:00 UTC``."""
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def ladder(state: PledgeState) -> list[Step]:
    """Every timed step of the stage the pledge is in, in order (taken ones included)."""
    policy = state.policy
    if policy is None or state.status == PledgeStatus.closed:
        return []
    if state.status == PledgeStatus.in_review and state.review_started_at is not None:
        return _vetting(policy, state.review_started_at)
    if state.status == PledgeStatus.changes_requested and state.changes_requested_at is not None:
        return _revision(policy, state.changes_requested_at)
    if state.status in CYCLE_STATUSES and state.cycle_due_at is not None:
        return _cycle(policy, state)
    return []


def upcoming(state: PledgeState) -> Step | None:
    """The next step not yet taken, or None when only a person can move the pledge on."""
    return next((step for step in ladder(state) if step.name not in state.steps_done), None)


def report_deadline(state: PledgeState) -> dt.datetime | None:
    """When not reporting next changes the pledge's status (overdue, non-reporting, delisted)."""
    return next(
        (step.at for step in ladder(state) if step.name in CONSEQUENTIAL and step.name not in state.steps_done),
        None,
    )


def step_at(state: PledgeState, name: StepName) -> dt.datetime | None:
    return next((step.at for step in ladder(state) if step.name == name), None)


def effective_due(state: PledgeState) -> dt.datetime:
    """The current cycle's anniversary moved by the extensions granted in it."""
    assert state.cycle_due_at is not None
    return state.cycle_due_at + dt.timedelta(days=state.extension_days)


def _vetting(policy: Policy, started: dt.datetime) -> list[Step]:
    return [
        Step(StepName.review_reminder, started + policy.review_reminder_after, "reminder to the vetting team"),
        Step(StepName.review_escalation, started + policy.review_escalation_after, "escalation to the vetting lead"),
    ]


def _revision(policy: Policy, requested: dt.datetime) -> list[Step]:
    return [
        Step(
            StepName.revision_reminder, requested + policy.revision_reminder_after, "revision reminder to the pledger"
        ),
        Step(StepName.abandon, requested + policy.revision_abandoned_after, "closed as abandoned"),
    ]


def _cycle(policy: Policy, state: PledgeState) -> list[Step]:
    due = effective_due(state)
    if state.cycle_reported:
        assert state.cycle_due_at is not None
        next_due = state.cycle_due_at + policy.reporting_interval
        return [Step(StepName.next_cycle, next_due, f"report request for cycle {state.cycle + 1}")]
    what = "final report" if state.final_cycle else "report"
    steps = [
        Step(StepName.request, due, f"{what} request for cycle {state.cycle}"),
        Step(StepName.reminder_1, due + policy.reminder_1_after, "reminder 1 to the focal point"),
        Step(StepName.reminder_2, due + policy.reminder_2_after, "reminder 2 to the focal point and backup contact"),
        Step(StepName.overdue, due + policy.overdue_after, f"{what} overdue: final notice to every contact"),
    ]
    if state.final_cycle:
        steps.append(
            Step(
                StepName.final_report_missing, due + policy.non_reporting_after, "closed as ended: final report missing"
            )
        )
    else:
        non_reporting = due + policy.non_reporting_after
        steps.append(Step(StepName.non_reporting, non_reporting, "marked non-reporting in the public registry"))
        steps.append(Step(StepName.delist, non_reporting + policy.delisted_after, "delisted from the registry"))
    return steps
