"""Why a pledge is where it is, in words (``pledgeflow ops show``): what put it in its status, under which
rule of the policy, what comes next and who may move it on. Pure: from the workflow's state with its whole
timeline put back (pledgeflow.registry.pledge_history), which tells since when the pledge stands where it is."""

from __future__ import annotations

import datetime as dt

from workflows.ladder import effective_due, ladder, report_deadline, step_at
from workflows.policy import format_duration
from workflows.state import PledgeState, PledgeStatus, StepName, TimelineEvent


def _day(at: dt.datetime | None) -> str:
    return f"{at:%Y-%m-%d}" if at else "—"


def explain(state: PledgeState) -> list[str]:
    """A few lines: where the pledge stands and why, what happens next, and what people may do now."""
    lines = [f"status: {state.status.value}{_closure(state)}, since {_day(_since(state))}: {_why(state)}"]
    if state.published_at is not None:
        extension = f", extended {state.extension_days} days" if state.extension_days else ""
        lines.append(
            f"cycle {state.cycle}{' (final)' if state.final_cycle else ''}{extension}; "
            f"missed cycles {state.missed_cycles}; last report {_day(state.last_report_at)}; "
            f"published {_day(state.published_at)}, the anniversary every cycle is anchored to"
        )
    if state.status != PledgeStatus.closed:
        lines.append(
            f"next: {state.next_step or 'nothing'}"
            + (f" on {_day(state.next_deadline)}" if state.next_deadline else "")
        )
        allowed = ", ".join(action.value for action in state.allowed_actions) or "nothing"
        lines.append(f"may be done now: {allowed}")
    if state.pending_extension_reason:
        lines.append(f"extension requested, waiting for staff: {state.pending_extension_reason}")
    lines.append(f"last email: {state.last_email or '—'}")
    return lines


def ladder_rows(state: PledgeState) -> list[tuple[str, dt.datetime, str]]:
    """The current stage's timed steps: what each does, when, and whether it is taken or next."""
    rows = []
    upcoming = next((step.name for step in ladder(state) if step.name not in state.steps_done), None)
    for step in ladder(state):
        mark = "taken" if step.name in state.steps_done else ("next" if step.name == upcoming else "")
        rows.append((step.says, step.at, mark))
    return rows


def _closure(state: PledgeState) -> str:
    if state.closure_reason is None:
        return ""
    note = f": {state.closure_note}" if state.closure_note else ""
    return f" ({state.closure_reason.value}{note})"


def _since(state: PledgeState) -> dt.datetime | None:
    """When the pledge entered its status: the first line of the last unbroken run of lines in that status."""
    entered: TimelineEvent | None = None
    for event in state.timeline:
        if event.status != state.status:
            entered = None
        elif entered is None:
            entered = event
    return entered.at if entered else None


def _why(state: PledgeState) -> str:
    policy = state.policy
    if policy is None:
        return "the pledge is being set up"
    status, cycle = state.status, state.cycle
    what = "final report" if state.final_cycle else f"report for cycle {cycle}"
    if status == PledgeStatus.in_review:
        return (
            f"waiting for a vetting decision since {_day(state.review_started_at)}; staff are reminded after "
            f"{format_duration(policy.review_reminder_after)} and the lead after "
            f"{format_duration(policy.review_escalation_after)}, but nothing is decided automatically"
        )
    if status == PledgeStatus.changes_requested:
        abandon = step_at(state, StepName.abandon)
        return f"staff asked for changes ({state.changes_note}); with no revision by {_day(abandon)} it is abandoned"
    if status == PledgeStatus.published and state.cycle_reported is False and cycle >= 1 and state.cycle_due_at:
        early = effective_due(state) - policy.early_report_window
        return (
            f"in the registry; the {what} falls due on {_day(effective_due(state))} "
            f"(a report from {_day(early)} on counts for it)"
        )
    if status == PledgeStatus.published:
        return "approved; being published"
    due = effective_due(state) if state.cycle_due_at else None
    deadline = _day(report_deadline(state))
    if status == PledgeStatus.report_due:
        return f"the {what} was asked for on {_day(due)}; without it by {deadline} the pledge turns overdue"
    if status == PledgeStatus.report_overdue:
        return (
            f"no {what} within {format_duration(policy.overdue_after)} of its request on {_day(due)}; "
            f"a report reinstates it, and without one by {deadline} "
            + ("the pledge closes as ended" if state.final_cycle else "it is marked non-reporting")
        )
    if status == PledgeStatus.non_reporting:
        return (
            f"no {what} within {format_duration(policy.non_reporting_after)} of its request on {_day(due)}; "
            f"shown red in the registry; a report reinstates it, and without one it is delisted on {deadline}"
        )
    last = state.timeline[-1].message if state.timeline else ""
    return last
