"""The registry projection: what the workflow hands the registry activity (the pledge's current row and what is
new since), and the object that sends it."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, FailureError, RetryState

from workflows.changes import Changes
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
    # The workflow's count of projections sent, this one included: the registry keeps the row of the highest.
    # A local activity whose workflow is evicted from the worker's cache and replayed while it runs goes on
    # running, and the replay sends it again (the SDK's own design); committed after the newer projections
    # that follow, the first attempt would put an older picture back. None: sent by a worker from before.
    number: int | None = None

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
# Issue 14: the state a run carries (its continue-as-new input, the query's answer) stays far below Temporal's
# 2 MiB payload limit however many reports and events a pledge gathers. Reports and timeline events already in
# the registry are dropped from the state, oldest first, beyond these budgets (JSON bytes); the registry keeps
# them all, and the newest stay for the pages and the next run (nothing in the ladder reads older ones).
KEPT_REPORT_BYTES = 256 * 1024
KEPT_TIMELINE_BYTES = 128 * 1024
PATCH_BOUNDED_STATE = "14-bounded-state"
# Issue 14: a projection the registry keeps refusing shows on the staff timeline. After these attempts (about
# five and a half minutes with the default backoff: 1, 2, 4 ... 64, then 100 s twice) the workflow records
# why, and the next attempt carries that line too, retried until the registry takes it; before, the pledge
# waited with nothing on its timeline.
PATCH_REGISTRY_BEHIND_SHOWN = "14-registry-behind-shown"
ATTEMPTS_BEFORE_SHOWN = RetryPolicy(maximum_attempts=10)
# Issue 10: the projection and the policy read run as local activities, in the worker that runs the workflow,
# within its workflow task: an activity on the task queue waited behind every other pledge's work there and
# cost a second workflow task to take its result, so an approval among a hundred pledges in flight waited
# 24 s for its answer. They are short, idempotent database reads and writes, as local activities should be.
PATCH_LOCAL_ACTIVITIES = "10-local-activities"
# A retry further off than this waits on a workflow timer, not inside the workflow task: while a local
# activity runs, its workflow task stays open (extended every 8 s) and an update can only be accepted when
# it closes, so a database outage would keep staff's actions from being accepted for minutes.
LOCAL_RETRY_THRESHOLD = dt.timedelta(seconds=5)


async def run_short_activity(changes: Changes, activity: str, *args: Any, **options: Any) -> Any:
    """``activity`` as a local activity, or as a task-queue activity in a run recorded before
    PATCH_LOCAL_ACTIVITIES (the same options either way)."""
    if changes.taken(PATCH_LOCAL_ACTIVITIES):
        return await workflow.execute_local_activity(
            activity, args=args, local_retry_threshold=LOCAL_RETRY_THRESHOLD, **options
        )
    return await workflow.execute_activity(activity, args=args, **options)


class RegistryProjector:
    """Keeps the registry equal to the workflow's state through the ``project_pledge`` activity.

    Projections run one at a time, each carrying the newest state, so the registry never ends on an older
    picture than the workflow's; what is already projected (the row, events, reports) is not sent again.
    """

    def __init__(self, state: PledgeState, on_refused: Callable[[str], None], changes: Changes) -> None:
        """``on_refused(why)`` records on the timeline that the registry refused the projection."""
        self._state = state
        self._changes = changes
        self._on_refused = on_refused
        # Everything before this run was projected before it continued as new.
        self._events_after = max((event.seq for event in state.timeline), default=0)
        self._reports_from = len(state.reports)
        self._row: dict[str, Any] | None = None  # the pledge row last written, to skip no-op writes
        self._one_at_a_time = asyncio.Lock()

    async def project(self) -> None:
        async with self._one_at_a_time:
            projection, row = self._pending()
            if not projection.events and not projection.reports and row == self._row:
                return
            try:
                await self._send(projection, shown=self._changes.taken(PATCH_REGISTRY_BEHIND_SHOWN))
            except FailureError as err:
                why = _gave_up_because(err)
                if why is None:
                    raise
                self._on_refused(why)
                projection, row = self._pending()  # the refusal's line goes with it
                await self._send(projection, shown=False)
            if projection.events:
                self._events_after = projection.events[-1].seq
            self._reports_from += len(projection.reports)
            self._row = row
            self._forget_what_the_registry_keeps()

    def _pending(self) -> tuple[PledgeProjection, dict[str, Any]]:
        """What the registry does not have yet, and the pledge row it would be written as."""
        projection = PledgeProjection.of(
            self._state, events_after_seq=self._events_after, reports_from=self._reports_from
        )
        return projection, projection.model_dump(exclude={"events", "reports"})

    async def _send(self, projection: PledgeProjection, shown: bool) -> None:
        """The ``project_pledge`` activity; with ``shown``, it gives up after ATTEMPTS_BEFORE_SHOWN."""
        self._state.registry_writes += 1
        await run_short_activity(
            self._changes,
            "project_pledge",
            projection.model_copy(update={"number": self._state.registry_writes}),
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=ATTEMPTS_BEFORE_SHOWN if shown else None,
            summary=self._summary(),
        )

    def _forget_what_the_registry_keeps(self) -> None:
        state = self._state
        reports = _over_budget(state.reports[: self._reports_from], state.reports, KEPT_REPORT_BYTES)
        projected_events = [event for event in state.timeline if event.seq <= self._events_after]
        # The newest event stays whatever its size: the next one's sequence number follows it.
        events = _over_budget(projected_events[:-1], state.timeline, KEPT_TIMELINE_BYTES)
        if not (reports or events) or not self._changes.taken(PATCH_BOUNDED_STATE):
            return
        state.reports, state.timeline = state.reports[reports:], state.timeline[events:]
        self._reports_from -= reports

    def forget_what_the_registry_has(self) -> None:
        """Before continue-as-new (issue 10): the next run carries only the events and reports the registry
        does not have yet, and the newest event, whose sequence number the next one follows. The budgets
        above would let the state grow by a year's lines and reports every cycle for decades; the pages and
        ``pledgeflow ops show`` read the older ones back (pledgeflow/registry/pledge_history.py)."""
        state = self._state
        pending = [event for event in state.timeline if event.seq > self._events_after]
        state.timeline = pending or state.timeline[-1:]
        state.reports = state.reports[self._reports_from :]
        self._reports_from = 0

    def _summary(self) -> str:
        state = self._state
        new = [event.kind.replace("_", " ") for event in state.timeline if event.seq > self._events_after]
        if new:
            return f"record {', '.join(new)} in the registry"
        return f"record the next step ({state.next_step}) in the registry"


def _gave_up_because(err: FailureError) -> str | None:
    """Why an activity with ATTEMPTS_BEFORE_SHOWN failed for good, or None if it did not give up (cancelled).

    A task-queue activity's failure comes wrapped in an ActivityError that says whether its attempts ran
    out; a local activity's is the last attempt's own failure, raised once its retry policy is used up.
    """
    if isinstance(err, ActivityError):
        return str(err.cause) if err.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED else None
    return None if isinstance(err, CancelledError) else str(err)


def _over_budget(droppable: Sequence[BaseModel], kept: Sequence[BaseModel], budget: int) -> int:
    """How many of the oldest items (all of them among ``droppable``, the head of ``kept``) to drop so that
    what stays of ``kept`` fits in ``budget`` JSON bytes."""
    total = sum(len(item.model_dump_json()) for item in kept)
    dropped = 0
    while total > budget and dropped < len(droppable):
        total -= len(droppable[dropped].model_dump_json())
        dropped += 1
    return dropped
