"""The registry projection: what the workflow hands the registry activity (the pledge's current row and what is
new since), and the object that sends it."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

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


PROJECTION_TIMEOUT = dt.timedelta(minutes=1)


class RegistryProjector:
    """Keeps the registry equal to the workflow's state through the ``project_pledge`` activity.

    Projections run one at a time, each carrying the newest state, so the registry never ends on an older
    picture than the workflow's; what is already projected (the row, events, reports) is not sent again.
    """

    def __init__(self, state: PledgeState) -> None:
        self._state = state
        # Everything before this run was projected before it continued as new.
        self._events_after = max((event.seq for event in state.timeline), default=0)
        self._reports_from = len(state.reports)
        self._row: dict[str, Any] | None = None  # the pledge row last written, to skip no-op writes
        self._one_at_a_time = asyncio.Lock()

    async def project(self) -> None:
        async with self._one_at_a_time:
            projection = PledgeProjection.of(
                self._state, events_after_seq=self._events_after, reports_from=self._reports_from
            )
            row = projection.model_dump(exclude={"events", "reports"})
            if not projection.events and not projection.reports and row == self._row:
                return
            await workflow.execute_activity(
                "project_pledge",
                projection,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                summary=self._summary(),
            )
            if projection.events:
                self._events_after = projection.events[-1].seq
            self._reports_from += len(projection.reports)
            self._row = row

    def _summary(self) -> str:
        state = self._state
        new = [event.kind.replace("_", " ") for event in state.timeline if event.seq > self._events_after]
        if new:
            return f"record {', '.join(new)} in the registry"
        return f"record the next step ({state.next_step}) in the registry"
