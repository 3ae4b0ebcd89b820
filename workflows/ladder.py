"""The escalation ladder as data: which timed steps the current stage has, and when.

Pure functions of :class:`PledgeState` and its policy, so the workflow, its query and the tests all
agree on what happens next. A step's time is derived, never stored: an extension moves every step
not yet taken, and a resumed run (after continue-as-new) finds its place from ``state.steps_done``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from workflows.emails import EmailKind
from workflows.policy import Policy
from workflows.state import CYCLE_STATUSES, PledgeState, PledgeStatus, StepName

# Steps after which the pledge's status changes: the report deadline a pledger is told about.
CONSEQUENTIAL = (StepName.overdue, StepName.non_reporting, StepName.final_report_missing, StepName.delist)
# A warning mail settled within this share of its grace after its step counts as on time: the consequence keeps
# its date (a day's grace of 45 is not shortened by the seconds a mail takes).
ON_TIME_SHARE = 100


@dataclass(frozen=True)
class Step:
    name: StepName
    at: dt.datetime
    says: str  # what happens then, in words: "reminder 1 to the focal point"


def format_utc(at: dt.datetime) -> str:
    """A moment as operators read it in summaries and details: ``2027-03-14 09:00:00 UTC``."""
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def ladder(state: PledgeState, hold: bool = True) -> list[Step]:
    """Every timed step of the stage the pledge is in, in order (taken ones included). Without ``hold``, a
    consequence waiting for its warning mail is shown at its own time, the earliest it can come."""
    policy = state.policy
    if policy is None or state.status == PledgeStatus.closed:
        return []
    if state.status == PledgeStatus.in_review and state.review_started_at is not None:
        return _vetting(policy, state.review_started_at)
    if state.status == PledgeStatus.changes_requested and state.changes_requested_at is not None:
        return _revision(policy, state.changes_requested_at)
    if state.status in CYCLE_STATUSES and state.cycle_due_at is not None:
        return _cycle(policy, state, hold)
    return []


def upcoming(state: PledgeState) -> Step | None:
    """The next step not yet taken, or None when only a person can move the pledge on."""
    return next((step for step in ladder(state) if step.name not in state.steps_done), None)


def report_deadline(state: PledgeState) -> dt.datetime | None:
    """When not reporting next changes the pledge's status (overdue, non-reporting, delisted); while a warning
    mail is on its way, the earliest that can be."""
    return next(
        (
            step.at
            for step in ladder(state, hold=False)
            if step.name in CONSEQUENTIAL and step.name not in state.steps_done
        ),
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


def _cycle(policy: Policy, state: PledgeState, hold: bool) -> list[Step]:
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
    # A consequence never comes before the mail that warned of it settled, and then leaves its whole grace.
    grace = policy.non_reporting_after - policy.overdue_after
    consequence = _warned(state, EmailKind.final_notice, due + policy.non_reporting_after, grace, hold)
    if consequence is None:
        return steps
    if state.final_cycle:
        steps.append(Step(StepName.final_report_missing, consequence, "closed as ended: final report missing"))
        return steps
    steps.append(Step(StepName.non_reporting, consequence, "marked non-reporting in the public registry"))
    delisting = consequence + policy.delisted_after
    delist = _warned(state, EmailKind.non_reporting, delisting, policy.delisted_after, hold)
    if delist is not None:
        steps.append(Step(StepName.delist, delist, "delisted from the registry"))
    return steps


def _warned(
    state: PledgeState, warning: EmailKind, at: dt.datetime, grace: dt.timedelta, hold: bool
) -> dt.datetime | None:
    """When a consequence of not reporting comes: at its time (the warning's step plus ``grace``) if the warning
    mail settled on time, else ``grace`` after it settled; while it is on its way, None (no such step yet)
    with ``hold``, else its time."""
    if state.warnings_pending.get(warning, 0) > 0:
        return None if hold else at
    settled = state.warnings_settled_at.get(warning)
    if settled is None or settled - (at - grace) <= grace / ON_TIME_SHARE:
        return at
    return settled + grace
