"""Driving pledge workflows on the time-skipping server the way the API and the clock do.

- :class:`Mailbox` is the stand-in ``send_email`` activity: it keeps every EmailRequest with the
  workflow time it was asked at, and notes any request that breaks the email contract (context keys
  other than CONTEXT[kind] + ALWAYS, or a business key the real send ledger would drop as a repeat).
- :class:`Pledge` wraps one pledge's workflow: what people do goes through the API's own
  :class:`PledgeClient`; it also waits, reads histories, and the registry's copy.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import select
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge as PledgeRow
from pledgeflow.core.models import TimelineEntry
from pledgeflow.core.settings import Settings
from pledgeflow.registry.pledge_history import with_whole_history
from pledgeflow.temporal.pledge_client import ActionRefused, PledgeClient
from workflows.emails import ALWAYS, CONTEXT, UNCONFIRMED, EmailKind, EmailOutcome, EmailRequest
from workflows.state import (
    ActionResult,
    ClosureInput,
    Decision,
    DecisionInput,
    EmailReply,
    ExtensionGrantInput,
    ExtensionRefusalInput,
    ExtensionRequestInput,
    ImportedPledge,
    LinksRenewalInput,
    PledgeState,
    PledgeStatus,
    ReportInput,
    ResendInput,
    RevisionInput,
    TimelineEvent,
    WithdrawalInput,
    workflow_id,
)
from workflows.submission import ProgressReport, Submission

WORKFLOW_TASK_EVENTS = {
    "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
    "EVENT_TYPE_WORKFLOW_TASK_STARTED",
    "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
}
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


@dataclass
class Sent:
    at: dt.datetime  # workflow (server) time the email was asked for
    request: EmailRequest
    order: tuple[dt.datetime, int] = (dt.datetime.min.replace(tzinfo=dt.UTC), 0)  # as the workflow asked

    @property
    def kind(self) -> EmailKind:
        return self.request.kind

    @property
    def to(self) -> str:
        return self.request.recipient.role


@dataclass
class Mailbox:
    sent: list[Sent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    do_not_email: set[str] = field(default_factory=set)
    refused_by_smtp: set[str] = field(default_factory=set)  # addresses the SMTP server answers with a 5xx
    # Addresses whose messages the server was handed but never answered for (the send ledger's "unconfirmed").
    unconfirmed: set[str] = field(default_factory=set)

    @activity.defn(name="send_email")
    async def send_email(self, request: EmailRequest) -> EmailOutcome:
        expected = CONTEXT[request.kind] | ALWAYS
        if set(request.context) != expected:
            self.problems.append(f"{request.kind}: context {sorted(request.context)} != {sorted(expected)}")
        if any(s.request.business_key == request.business_key for s in self.sent):
            self.problems.append(f"{request.business_key} asked twice; the send ledger would drop the second")
        if request.recipient.email in self.do_not_email:
            return EmailOutcome(state="skipped", message_id="", detail="do-not-email")
        if request.recipient.email in self.refused_by_smtp:
            raise ApplicationError("SMTP refused: 550 mailbox unavailable", non_retryable=True)
        info = activity.info()
        self.sent.append(
            Sent(info.current_attempt_scheduled_time, request, (info.scheduled_time, int(info.activity_id)))
        )
        if request.recipient.email in self.unconfirmed:
            detail = f"{UNCONFIRMED}: the attempt claiming it ended unrecorded; not sent again"
            return EmailOutcome(state="sent", message_id=f"<{len(self.sent)}@test>", detail=detail)
        return EmailOutcome(state="sent", message_id=f"<{len(self.sent)}@test>")

    def of(self, pledge_id: str, kind: EmailKind | None = None) -> list[Sent]:
        """This pledge's emails in the order the workflow asked for them (they are sent concurrently)."""
        mine = [s for s in self.sent if s.request.pledge_id == pledge_id and (kind is None or s.kind == kind)]
        return sorted(mine, key=lambda s: s.order)


class Pledge:
    def __init__(self, pledges: Pledges, pledge_id: str, first_run_id: str) -> None:
        self.pledges = pledges
        self.id = pledge_id
        self.first_run_id = first_run_id
        self.pledge_client = pledges.pledge_client
        # No run id: updates, queries and histories go to the current run, whatever continue-as-new did.
        self.handle: WorkflowHandle[Any, PledgeState] = pledges.client.get_workflow_handle(
            workflow_id(pledge_id), result_type=PledgeState
        )

    # --- what people do, through the client the API uses -------------------------------------

    async def decide(self, decision: Decision, staff: str = "vera", note: str | None = None) -> ActionResult:
        return await self.pledge_client.decide(self.id, DecisionInput(decision=decision, staff=staff, note=note))

    async def approve(self, staff: str = "vera") -> ActionResult:
        return await self.decide(Decision.approve, staff)

    async def revise(self, submission: Submission, expected_version: int | None = None) -> ActionResult:
        return await self.pledge_client.revise(
            self.id, RevisionInput(submission=submission, expected_version=expected_version)
        )

    async def report(self, report: ProgressReport, cycle: int | None = None) -> ActionResult:
        return await self.pledge_client.report(self.id, ReportInput(report=report, source="form", cycle=cycle))

    async def request_extension(self, reason: str) -> ActionResult:
        return await self.pledge_client.request_extension(self.id, ExtensionRequestInput(reason=reason))

    async def grant_extension(self, days: int, reason: str = "reporting form outage") -> ActionResult:
        return await self.pledge_client.grant_extension(
            self.id, ExtensionGrantInput(days=days, reason=reason, staff="omar")
        )

    async def refuse_extension(self, reason: str) -> ActionResult:
        return await self.pledge_client.refuse_extension(self.id, ExtensionRefusalInput(reason=reason, staff="omar"))

    async def withdraw(self, reason: str | None = None) -> ActionResult:
        return await self.pledge_client.withdraw(self.id, WithdrawalInput(reason=reason))

    async def close(self, reason: str) -> ActionResult:
        return await self.pledge_client.close(self.id, ClosureInput(reason=reason, staff="omar"))

    async def renew_links(self) -> ActionResult:
        return await self.pledge_client.renew_links(self.id, LinksRenewalInput(staff="omar"))

    async def reply(self, reply: EmailReply) -> None:
        await self.pledge_client.reply(self.id, reply)

    async def resend(self, kind: EmailKind | None = None) -> ActionResult:
        return await self.pledge_client.resend_email(self.id, ResendInput(kind=kind, staff="omar"))

    # --- what people see --------------------------------------------------------------------

    async def state(self) -> PledgeState:
        """The pledge as the pages show it, once it is quiet (``settled``)."""
        return await self.settled()

    async def _query(self) -> PledgeState:
        return await self.pledge_client.state(self.id)

    async def wait_for(self, check: Callable[[PledgeState], bool], timeout: float = 15) -> PledgeState:
        """Wait (in real time; the clock stands still) until the quiet workflow's state passes ``check``.

        Queries go only to a quiet workflow: the time-skipping server can lose a query that races a
        continue-as-new, and the client then waits for it until its deadline.
        """
        async with asyncio.timeout(timeout):
            while True:
                state = await self.settled(timeout)  # bounded by the outer timeout
                if check(state):
                    return state
                await asyncio.sleep(0.05)

    async def status_is(self, status: PledgeStatus) -> PledgeState:
        return await self.wait_for(lambda state: state.status == status)

    async def settled(self, timeout: float = 15) -> PledgeState:
        """The state once the workflow is quiet, as the pages show it: with the timeline and reports of
        earlier runs, which the workflow no longer carries, put back from the registry."""
        carried = await self.carried(timeout)
        with session_for(self.pledges.settings.database_url) as session:
            return with_whole_history(session, carried)

    async def carried(self, timeout: float = 15) -> PledgeState:
        """The workflow's own answer once it is quiet: its last workflow task completed, none is scheduled
        and no activity is pending, so it waits only for the clock or for a person."""
        async with asyncio.timeout(timeout):
            while True:
                kinds = [EventType.Name(e.event_type) for e in (await self.handle.fetch_history()).events]
                raw = await self.describe()  # after the history: equal lengths mean nothing moved between
                if kinds[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED":
                    raise AssertionError(f"pledge {self.id} failed")
                task = next((kind for kind in reversed(kinds) if kind.startswith("EVENT_TYPE_WORKFLOW_TASK_")), "")
                if (
                    raw.workflow_execution_info.history_length == len(kinds)
                    and not raw.pending_activities
                    and (kinds[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED" or task.endswith("_COMPLETED"))
                ):
                    return await self._query()
                await asyncio.sleep(0.05)

    def emails(self, kind: EmailKind | None = None) -> list[Sent]:
        return self.pledges.mailbox.of(self.id, kind)

    def email_log(self) -> list[tuple[str, str]]:
        return [(s.kind.value, s.to) for s in self.emails()]

    def registry_timeline(self) -> list[TimelineEvent]:
        with session_for(self.pledges.settings.database_url) as session:
            rows = session.exec(
                select(TimelineEntry).where(TimelineEntry.pledge_id == self.id).order_by(TimelineEntry.seq)  # type: ignore[arg-type]
            ).all()
        return [
            TimelineEvent(
                seq=row.seq,
                at=row.at,
                actor=row.actor,
                kind=row.kind,
                message=row.message,
                status=PledgeStatus(row.status),
                public=row.public,
            )
            for row in rows
        ]

    async def describe(self) -> DescribeWorkflowExecutionResponse:
        return await describe(self.pledges.client, self.handle.id)

    async def search_attributes(self) -> dict[str, Any]:
        """The pledge's search attributes as an operator's visibility query sees them (unset ones absent)."""
        fields = (await self.describe()).workflow_execution_info.search_attributes.indexed_fields
        return {
            name: json.loads(payload.data)
            for name, payload in fields.items()
            if payload.metadata.get("encoding") != b"binary/null"
        }

    async def history_length(self) -> int:
        return int((await self.describe()).workflow_execution_info.history_length)

    async def refused(self, action: Awaitable[ActionResult]) -> ActionRefused:
        """The refusal an update's validator gave, after checking it left nothing in history.

        The time-skipping server has no speculative workflow tasks, so a refused update still costs it
        a workflow task (scheduled, started, completed); the real server drops even that. Nothing else
        (no update accepted, no activity, no timer) may appear.
        """
        before = len((await self.handle.fetch_history()).events)
        try:
            await action
        except ActionRefused as refusal:
            new = (await self.handle.fetch_history()).events[before:]
            kinds = {EventType.Name(event.event_type) for event in new}
            assert kinds <= WORKFLOW_TASK_EVENTS, f"a refused update must leave no trace in history: {kinds}"
            return refusal
        raise AssertionError("the update was accepted")

    async def assert_registry_matches(self) -> PledgeState:
        """Issue 3, acceptance 3: the registry's timeline is the workflow's, step for step."""
        state = await self.settled()
        assert self.registry_timeline() == state.timeline
        row = self.registry_row()
        assert row is not None
        assert (row.status, row.closure_reason, row.cycle, row.missed_cycles) == (
            state.status.value,
            state.closure_reason.value if state.closure_reason else None,
            state.cycle,
            state.missed_cycles,
        )
        assert (row.next_step, row.next_deadline) == (state.next_step, state.next_deadline)
        assert row.projection_number == state.registry_writes  # the newest projection's row
        return state

    def registry_row(self) -> PledgeRow | None:
        with session_for(self.pledges.settings.database_url) as session:
            return session.get(PledgeRow, self.id)

    async def run_ids(self) -> list[str]:
        """Every run of this pledge, oldest first, following continue-as-new."""
        runs = [self.first_run_id]
        while True:
            history = await self.pledges.client.get_workflow_handle(self.handle.id, run_id=runs[-1]).fetch_history()
            last = history.events[-1]
            if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
                return runs
            runs.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)


async def describe(client: Client, workflow_id: str) -> DescribeWorkflowExecutionResponse:
    """The raw description: the time-skipping server keeps an unset Datetime search attribute as a null
    payload, which the client's describe() cannot decode (the dev server removes it)."""
    return await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )


@dataclass
class Pledges:
    env: WorkflowEnvironment
    settings: Settings
    mailbox: Mailbox
    pledge_client: PledgeClient = field(init=False)

    def __post_init__(self) -> None:
        self.pledge_client = PledgeClient(self.settings, self.env.client)

    @property
    def client(self) -> Client:
        return self.env.client

    async def submit(self, submission: Submission) -> Pledge:
        """Start the workflow as the API does, through its client."""
        return await self._started(await self.pledge_client.start(submission))

    async def imported(self, submission: Submission, imported: ImportedPledge) -> Pledge:
        """Start an imported pledge's workflow as ``pledgeflow import`` does."""
        pledge_id, new = await self.pledge_client.start_imported(submission, imported)
        assert new, "a pledge imported for the first time"
        return await self._started(pledge_id)

    async def _started(self, pledge_id: str) -> Pledge:
        # Just started, the workflow is still on its first run.
        first_run = (await describe(self.client, workflow_id(pledge_id))).workflow_execution_info.execution.run_id
        pledge = Pledge(self, pledge_id, first_run)
        await pledge.settled()
        return pledge

    async def published(self, submission: Submission) -> Pledge:
        """A pledge submitted and approved, in its first reporting cycle."""
        pledge = await self.submit(submission)
        await pledge.approve()
        await pledge.wait_for(lambda state: state.cycle == 1)
        await pledge.settled()
        return pledge

    async def now(self) -> dt.datetime:
        return await self.env.get_current_time()

    async def skip(self, duration: dt.timedelta) -> None:
        await self.env.sleep(duration)

    async def skip_to(self, moment: dt.datetime) -> None:
        now = await self.now()
        if moment > now:
            await self.env.sleep(moment - now)
