"""What the workflow hands the registry activity: the pledge's current row and what is new since."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from workflows.state import ClosureReason, PledgeState, PledgeStatus, ReportRecord, TimelineEvent
from workflows.submission import Submission


class PledgeProjection(BaseModel):
    pledge_id: str
    submission: Submission
    submission_version: int
    status: PledgeStatus
    closure_reason: ClosureReason | None
    closure_note: str | None
    submitted_at: dt.datetime
    # None only in a projection scheduled by a worker from before the field existed.
    review_started_at: dt.datetime | None = None
    published_at: dt.datetime | None
    next_deadline: dt.datetime | None
    next_step: str | None
    cycle: int
    missed_cycles: int
    last_report_at: dt.datetime | None
    events: list[TimelineEvent]  # written idempotently by (pledge, seq)
    reports: list[ReportRecord]  # written idempotently by (pledge, cycle, received_at)

    @classmethod
    def of(cls, state: PledgeState, events_after_seq: int = 0, reports_from: int = 0) -> PledgeProjection:
        return cls(
            pledge_id=state.pledge_id,
            submission=state.submission,
            submission_version=state.submission_version,
            status=state.status,
            closure_reason=state.closure_reason,
            closure_note=state.closure_note,
            submitted_at=state.submitted_at,
            review_started_at=state.review_started_at,
            published_at=state.published_at,
            next_deadline=state.next_deadline,
            next_step=state.next_step,
            cycle=state.cycle,
            missed_cycles=state.missed_cycles,
            last_report_at=state.last_report_at,
            events=[event for event in state.timeline if event.seq > events_after_seq],
            reports=state.reports[reports_from:],
        )
