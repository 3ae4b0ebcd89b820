"""Where an imported pledge stands on its ladder now (``pledgeflow import``, docs/import.md).

An earlier registry knows when a pledge was submitted and published and when its reports came in; the
policy says what followed: each anniversary asked for a report, overdue and non-reporting came after it,
a report settled its cycle or reinstated the pledge, a year as non-reporting delisted it. :func:`place`
walks those dates through the same ladder (workflows/ladder.py) and rules (workflows/rules.py) the
workflow runs, so an imported pledge lands where a pledge that had lived here all along would stand, with
its cycles anchored to the original publication; the workflow carries on from there.

Every step before ``now`` is taken silently: it is written to the timeline at the time it fell due, as
having happened before the import, and no email goes out for it. Pure: no clock, no I/O.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from workflows import rules
from workflows.ladder import upcoming
from workflows.rules import ReportEffect
from workflows.state import (
    Actor,
    ClosureReason,
    EventKind,
    ImportedPledge,
    PledgeState,
    PledgeStatus,
    ReportRecord,
    StepName,
    TimelineEvent,
)
from workflows.submission import Progress, ProgressReport

BEFORE = "before the import"
# What a report given only by its date (``last_report_at``) counts as: a plain one, which neither completes
# nor discontinues the pledge. Never kept: only the date is.
DATE_ONLY = ProgressReport(progress=Progress.in_progress, narrative="Only the date of this report is known.")


@dataclass(frozen=True)
class _Report:
    at: dt.datetime
    report: ProgressReport | None  # None: the earlier registry gave only the date of its last report


def place(state: PledgeState, imported: ImportedPledge, now: dt.datetime) -> None:
    """Set ``state`` (a new pledge with its policy loaded) to where ``imported`` stands at ``now``."""
    assert state.policy is not None, "the policy is read before the pledge is placed"
    timeline = _Timeline(state)
    submitted = min(imported.submitted_at, now)
    state.submitted_at = state.review_started_at = submitted
    timeline.add(submitted, Actor.pledger, EventKind.submitted, "Pledge submitted for review (earlier registry).")
    if imported.status == PledgeStatus.closed:
        _place_closed(state, imported, now, timeline)
    elif imported.published_at is not None:
        _place_published(state, imported, min(imported.published_at, now), now, timeline)
    elif imported.status == PledgeStatus.changes_requested:
        # The earlier registry did not say when changes were asked for: the revision clock starts now.
        state.status, state.changes_requested_at = PledgeStatus.changes_requested, now
        state.changes_note = "Changes were requested in the earlier registry."
        timeline.add(now, Actor.staff, EventKind.changes_requested, "Changes requested (earlier registry).")
    else:
        _take_steps_until(state, now, [], timeline)  # the vetting reminders that fell due: taken, not sent


def describe(state: PledgeState, imported: ImportedPledge) -> str:
    """The import's line on the timeline: where the pledge landed, and why."""
    assert state.policy is not None
    where = state.status.value
    if state.closure_reason is not None:
        where += f" ({state.closure_reason.value})"
    if state.published_at is not None:
        where += f" in cycle {state.cycle}"
        if state.missed_cycles:
            where += f", {state.missed_cycles} missed"
    said = imported.status
    earlier = f" (the earlier registry said {said.value})" if said is not None and said != state.status else ""
    email = "; the email of its current step goes out" if imported.notify else ""
    return (
        f"Imported from an earlier registry: {where} under the {state.policy.name} policy{earlier}. "
        f"Nothing was emailed for what had passed{email}."
    )


def _place_published(
    state: PledgeState, imported: ImportedPledge, published: dt.datetime, now: dt.datetime, timeline: _Timeline
) -> None:
    assert state.policy is not None
    state.status, state.published_at = PledgeStatus.published, published
    rules.open_cycle(state, 1, published + state.policy.reporting_interval, published)
    assert state.cycle_due_at is not None
    timeline.add(
        published, Actor.staff, EventKind.published,
        f"Published (earlier registry); first report due {state.cycle_due_at:%Y-%m-%d}.",
    )  # fmt: skip
    _take_steps_until(state, now, _reports(imported, now), timeline)


def _place_closed(state: PledgeState, imported: ImportedPledge, now: dt.datetime, timeline: _Timeline) -> None:
    """A pledge the earlier registry had closed stays closed as it said, whatever the policy would have done;
    its reports are kept under the cycle each would have counted for."""
    assert state.policy is not None and imported.closure_reason is not None
    if imported.published_at is not None:
        published = min(imported.published_at, now)
        state.published_at = published
        published_status = PledgeStatus.published
        timeline.add(published, Actor.staff, EventKind.published, "Published (earlier registry).", published_status)
        for report in _reports(imported, now):
            state.cycle = max(state.cycle, _cycle_of(state, published, report.at))
            _keep(state, report, state.cycle, final=False)
            timeline.add(
                report.at, Actor.pledger, EventKind.report_received,
                f"Report for cycle {state.cycle} received (earlier registry).", PledgeStatus.published,
            )  # fmt: skip
        state.cycle = max(state.cycle, 1)
    reason = imported.closure_reason
    state.status, state.closure_reason = PledgeStatus.closed, reason
    timeline.add(now, Actor.system, EventKind(reason.value), f"Closed as {reason.value} in the earlier registry.")


def _cycle_of(state: PledgeState, published: dt.datetime, at: dt.datetime) -> int:
    """The cycle a report at ``at`` counts for: its anniversary's, from the early-report window before it."""
    assert state.policy is not None
    since = (at - published + state.policy.early_report_window) / state.policy.reporting_interval
    return max(1, math.floor(since) + 1)


def _reports(imported: ImportedPledge, now: dt.datetime) -> list[_Report]:
    reports = [
        _Report(min(report.received_at, now), ProgressReport.model_validate(report.model_dump(exclude={"received_at"})))
        for report in imported.reports
    ]
    last = imported.last_report_at
    if last is not None and all(report.at != min(last, now) for report in reports):
        reports.append(_Report(min(last, now), None))
    return sorted(reports, key=lambda report: report.at)


def _take_steps_until(state: PledgeState, now: dt.datetime, reports: list[_Report], timeline: _Timeline) -> None:
    """Take every step of the ladder that fell due by ``now`` and every report, in the order they happened."""
    pending = list(reports)
    while state.status != PledgeStatus.closed:
        step = upcoming(state)
        if pending and (step is None or pending[0].at <= step.at):
            _receive(state, pending.pop(0), timeline)
            continue
        if step is None or step.at > now:
            break
        state.steps_done.append(step.name)
        _take(state, step.name, step.at, timeline)
    for late in pending:  # the policy had closed the pledge before these came in: kept, as additions
        _keep(state, late, state.cycle, final=False)
        timeline.add(
            late.at, Actor.pledger, EventKind.report_added,
            f"Report received after the pledge was closed (earlier registry), kept with cycle {state.cycle}.",
        )  # fmt: skip


def _take(state: PledgeState, step: StepName, at: dt.datetime, timeline: _Timeline) -> None:
    """A step of the ladder taken as of ``at``, as the workflow takes it but without its email."""
    what = "final report" if state.final_cycle else "report"
    if step == StepName.request:
        state.status = PledgeStatus.report_due
        kind = EventKind.final_report_requested if state.final_cycle else EventKind.report_requested
        message = f"Cycle {state.cycle} {what} fell due ({BEFORE}; no request was sent from here)."
        timeline.add(at, Actor.system, kind, message)
    elif step == StepName.overdue:
        state.status, state.missed_cycles = PledgeStatus.report_overdue, state.missed_cycles + 1
        message = f"No {what} for cycle {state.cycle}: overdue ({BEFORE})."
        timeline.add(at, Actor.system, EventKind.report_overdue, message)
    elif step == StepName.non_reporting:
        state.status = PledgeStatus.non_reporting
        timeline.add(at, Actor.system, EventKind.non_reporting, f"Marked non-reporting ({BEFORE}).")
    elif step == StepName.delist:
        _close(state, ClosureReason.delisted, None, at, f"A year non-reporting: delisted ({BEFORE}).", timeline)
    elif step == StepName.final_report_missing:
        note = "final report missing"
        _close(state, ClosureReason.ended, note, at, f"Ended without its final report ({BEFORE}).", timeline)
    elif step == StepName.abandon:
        _close(state, ClosureReason.abandoned, None, at, f"No revision in time: abandoned ({BEFORE}).", timeline)
    # Reminders and the vetting reminders change no status: taken silently, as their emails are not sent.


def _receive(state: PledgeState, report: _Report, timeline: _Timeline) -> None:
    """A report as the workflow's rules settle it, on the day the earlier registry received it."""
    effect = rules.report_effect(state, report.report or DATE_ONLY, state.cycle, report.at)
    progress = (report.report or DATE_ONLY).progress
    cycle, reinstated = state.cycle, state.status in rules.REINSTATING
    _keep(state, report, cycle, final=effect == ReportEffect.final)
    if effect == ReportEffect.progress_update:
        message = f"Progress update for cycle {cycle} received."
        timeline.add(report.at, Actor.pledger, EventKind.progress_update, message)
        return
    if effect == ReportEffect.discontinued:
        _close(state, ClosureReason.withdrawn, "discontinued", report.at, "Reported discontinued: withdrawn.", timeline)
        return
    if effect == ReportEffect.final:
        reason = ClosureReason.completed if progress == Progress.completed else ClosureReason.ended
        note = f"final report: {progress.value.replace('_', ' ')}"
        _close(state, reason, note, report.at, f"Final report received: closed as {reason.value}.", timeline)
        return
    state.status = PledgeStatus.published
    back = "; the pledge was reinstated" if reinstated else ""
    timeline.add(report.at, Actor.pledger, EventKind.report_received, f"Report for cycle {cycle} received{back}.")
    _begin_next_cycle(state, report.at, timeline)


def _begin_next_cycle(state: PledgeState, at: dt.datetime, timeline: _Timeline) -> None:
    """As the workflow begins a cycle: the next anniversary, and those that had passed counted as missed."""
    assert state.policy is not None and state.cycle_due_at is not None
    interval = state.policy.reporting_interval
    cycle, due = state.cycle + 1, state.cycle_due_at + interval
    missed = math.floor((at - due) / interval) + 1 if due <= at else 0
    if missed:
        cycle, due = cycle + missed, due + missed * interval
        state.missed_cycles += missed
        passed = "1 anniversary" if missed == 1 else f"{missed} anniversaries"
        timeline.add(at, Actor.system, EventKind.cycles_missed, f"{passed} passed while the pledge was not reporting.")
    rules.open_cycle(state, cycle, due, at)


def _keep(state: PledgeState, report: _Report, cycle: int, final: bool) -> None:
    if report.report is not None:
        state.reports.append(
            ReportRecord(cycle=cycle, received_at=report.at, source="import", final=final, report=report.report)
        )
    state.last_report_at = max(state.last_report_at or report.at, report.at)


def _close(
    state: PledgeState, reason: ClosureReason, note: str | None, at: dt.datetime, message: str, timeline: _Timeline
) -> None:
    state.status, state.closure_reason, state.closure_note = PledgeStatus.closed, reason, note
    timeline.add(at, Actor.system, EventKind(reason.value), message)


class _Timeline:
    """Appends the transitions of the past to the state's timeline, each at the time it happened."""

    def __init__(self, state: PledgeState) -> None:
        self._state = state

    def add(
        self, at: dt.datetime, actor: Actor, kind: EventKind, message: str, status: PledgeStatus | None = None
    ) -> None:
        state = self._state
        state.timeline.append(
            TimelineEvent(
                seq=len(state.timeline) + 1,
                at=at,
                actor=actor,
                kind=kind,
                message=message,
                status=status or state.status,
                public=state.published_at is not None or kind == EventKind.submitted,
            )
        )
