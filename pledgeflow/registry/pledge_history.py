"""A pledge's whole timeline and all its reports, for the pages and commands that show them.

The workflow's state carries the newest of them only: continue-as-new leaves behind what the registry
already has (workflows/pledge.py, PATCH_CARRY_WHAT_IS_NEEDED). The older lines and reports are read
back from the registry's TimelineEntry and Report rows, which the projection wrote from the same events,
and put before the carried ones; so a reader sees the same lines, with the same actor, kind and public
flag, whichever run recorded them.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from pledgeflow.core.models import Report, TimelineEntry
from workflows.state import PledgeState, ReportRecord, TimelineEvent
from workflows.submission import ProgressReport


def with_whole_history(session: Session, state: PledgeState) -> PledgeState:
    """``state`` (the workflow's answer) with the timeline and the reports it no longer carries put back."""
    return state.model_copy(
        update={"timeline": _whole_timeline(session, state), "reports": _all_reports(session, state)}
    )


def _whole_timeline(session: Session, state: PledgeState) -> list[TimelineEvent]:
    carried = state.timeline
    older = select(TimelineEntry).where(TimelineEntry.pledge_id == state.pledge_id)
    if carried:
        older = older.where(col(TimelineEntry.seq) < carried[0].seq)
    rows = session.exec(older.order_by(col(TimelineEntry.seq))).all()
    return [_event(row) for row in rows] + carried


def _all_reports(session: Session, state: PledgeState) -> list[ReportRecord]:
    carried = state.reports
    older = select(Report).where(Report.pledge_id == state.pledge_id)
    if carried:
        # Up to the first carried report's moment: another received in the same workflow task may share it.
        older = older.where(col(Report.received_at) <= carried[0].received_at)
    rows = session.exec(older.order_by(col(Report.received_at), col(Report.id))).all()
    kept = {(report.cycle, report.received_at) for report in carried}
    return [_report(row) for row in rows if (row.cycle, row.received_at) not in kept] + carried


def _event(row: TimelineEntry) -> TimelineEvent:
    # The registry keeps a staff member in the actor ("staff:<name>"), which the event splits again.
    kept = {"seq", "at", "actor", "kind", "message", "status", "public"}
    return TimelineEvent.model_validate(row.model_dump(include=kept))


def _report(row: Report) -> ReportRecord:
    report = ProgressReport.model_validate({**row.details, "progress": row.progress, "narrative": row.narrative})
    return ReportRecord.model_validate(
        {"cycle": row.cycle, "received_at": row.received_at, "source": row.source, "final": row.final, "report": report}
    )
