"""What every stage of the pledge workflow leans on: the timeline, the registry projection, operator
visibility, emails, and climbing the ladder of timed steps.

:class:`PledgeWorkflow` (workflows/pledge.py) inherits this, so the lifecycle file reads as the ladder.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.emails import EmailKind, EmailOutcome, EmailRequest, Recipient
    from workflows.ladder import Step, upcoming
    from workflows.policy import LoadedPolicy, Policy
    from workflows.projection import PledgeProjection
    from workflows.search_attributes import COUNTRIES, MISSED_CYCLES, NEXT_DEADLINE, ORGANIZATION, SDGS, STATUS
    from workflows.state import PledgeState, PledgeStatus, StartInput, TimelineEvent

PROJECTION_TIMEOUT = dt.timedelta(minutes=1)
EMAIL_TIMEOUT = dt.timedelta(minutes=2)
POLICY_TIMEOUT = dt.timedelta(seconds=30)
KEPT_REPLY_IDS = 200  # enough to recognise a redelivered reply; the inbound receiver dedups too


def when(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


class PledgeRuntime:
    state: PledgeState

    def _start_runtime(self) -> None:
        # Everything before this run was projected before it continued as new.
        self._projected_seq = max((event.seq for event in self.state.timeline), default=0)
        self._projected_reports = len(self.state.reports)
        self._projected_row: dict[str, Any] | None = None  # the pledge row last written, to skip no-op writes
        self._projection_lock = asyncio.Lock()
        self._outbox: list[asyncio.Task[None]] = []
        self._visible: dict[str, Any] = {pair.key.name: pair.value for pair in workflow.info().typed_search_attributes}

    @property
    def policy(self) -> Policy:
        assert self.state.policy is not None, "the policy is loaded before the first stage"
        return self.state.policy

    def _take(self, step: Step) -> None:
        raise NotImplementedError

    def _waiting_for_person(self) -> str | None:
        """What the pledge waits for when no timed step is left (shown as its next step)."""
        raise NotImplementedError

    # --- timeline and policy -------------------------------------------------------------------

    def _record(self, actor: str, kind: str, message: str, public: bool | None = None) -> None:
        """Append one transition; before publication nothing is public, since the pledge is not."""
        self.state.timeline.append(
            TimelineEvent(
                seq=len(self.state.timeline) + 1,
                at=workflow.now(),
                actor=actor,
                kind=kind,
                message=message,
                status=self.state.status,
                public=self.state.published_at is not None if public is None else public,
            )
        )

    async def _submission_settled(self) -> None:
        """Every action waits for the submission stage: the API answers 202 once the workflow starts, so a
        decision can arrive while the policy is still being read; it must land after "submitted"."""
        await workflow.wait_condition(lambda: self.state.policy is not None and bool(self.state.timeline))

    async def _load_policy(self) -> None:
        loaded = await workflow.execute_activity(
            "load_policy",
            start_to_close_timeout=POLICY_TIMEOUT,
            result_type=LoadedPolicy,
            summary="read the reporting policy and staff addresses",
        )
        self.state.policy = loaded.policy
        self.state.staff = loaded.staff

    # --- what the world sees: registry, search attributes, current details ---------------------

    async def _commit(self) -> None:
        """Make the state's plan, the Temporal UI and the registry agree with the state."""
        step = upcoming(self.state)
        self.state.next_deadline = step.at if step else None
        self.state.next_step = step.says if step else self._waiting_for_person()
        self._show()
        # Projections run one at a time, each carrying the newest state, so the registry never
        # ends on an older picture than the workflow's.
        async with self._projection_lock:
            projection = PledgeProjection.of(
                self.state, events_after_seq=self._projected_seq, reports_from=self._projected_reports
            )
            row = projection.model_dump(exclude={"events", "reports"})
            if not projection.events and not projection.reports and row == self._projected_row:
                return
            await workflow.execute_activity(
                "project_pledge",
                projection,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                summary=self._projection_summary(),
            )
            if projection.events:
                self._projected_seq = projection.events[-1].seq
            self._projected_reports += len(projection.reports)
            self._projected_row = row

    def _projection_summary(self) -> str:
        new = [event.kind.replace("_", " ") for event in self.state.timeline if event.seq > self._projected_seq]
        if new:
            return f"record {', '.join(new)} in the registry"
        return f"record the next step ({self.state.next_step}) in the registry"

    def _show(self) -> None:
        submission = self.state.submission
        wanted: dict[str, Any] = {
            STATUS.name: self.state.status.value,
            ORGANIZATION.name: submission.organization.name,
            NEXT_DEADLINE.name: self.state.next_deadline,
            MISSED_CYCLES.name: self.state.missed_cycles,
            SDGS.name: [str(sdg) for sdg in submission.sdgs],
            COUNTRIES.name: list(submission.countries),
        }
        updates = []
        for key in (STATUS, ORGANIZATION, NEXT_DEADLINE, MISSED_CYCLES, SDGS, COUNTRIES):
            value = wanted[key.name]
            if self._visible.get(key.name) == value:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))
            self._visible[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        deadline = f" on {when(self.state.next_deadline)}" if self.state.next_deadline else ""
        workflow.set_current_details(
            f"**{self.state.status.value}** (cycle {self.state.cycle})  \n"
            f"next: {self.state.next_step or 'nothing'}{deadline}  \n"
            f"last email: {self.state.last_email or 'none yet'}"
        )

    # --- emails --------------------------------------------------------------------------------

    def _focal(self) -> Recipient:
        focal = self.state.submission.focal_point
        return Recipient(email=focal.email, name=focal.name, role="focal_point")

    def _contacts(self) -> list[Recipient]:
        backup = self.state.submission.backup_contact
        extra = [Recipient(email=backup.email, name=backup.name, role="backup_contact")] if backup else []
        return [self._focal(), *extra]

    def _staff(self, role: str) -> Recipient:
        assert self.state.staff is not None, "staff addresses are loaded with the policy"
        address: str = getattr(self.state.staff, role)
        return Recipient(email=address, name=role.replace("_", " ").capitalize(), role=role)

    def _notify(
        self,
        kind: EmailKind,
        recipients: list[Recipient],
        *,
        thread: EmailKind | None = None,
        **context: Any,
    ) -> None:
        """Send ``kind`` to each recipient in the background; the run waits for them before it ends."""
        submission = self.state.submission
        values = {"title": submission.title, "organization": submission.organization.name, **context}
        for key, value in values.items():
            if isinstance(value, dt.datetime | dt.date):
                values[key] = value.isoformat()
        # A reporting email belongs to the cycle it names. Before publication an email's cycle is the
        # revision round, so each round's "changes requested" has its own business key in the send ledger.
        number = int(context["cycle"]) if "cycle" in context else self._email_cycle()
        for recipient in recipients:
            # A second message of one kind in one cycle (two extensions granted) is new, not a retry: it
            # gets a business key of its own, so the send ledger does not drop it as already sent.
            asked = f"{number}/{kind.value}/{recipient.email.lower()}"
            self.state.emails_asked[asked] = self.state.emails_asked.get(asked, 0) + 1
            request = EmailRequest(
                pledge_id=self.state.pledge_id,
                cycle=number,
                kind=kind,
                recipient=recipient,
                context=values,
                thread_kind=thread,
                occurrence=self.state.emails_asked[asked],
            )
            self._outbox.append(asyncio.create_task(self._send(request)))

    def _email_cycle(self) -> int:
        return self.state.cycle if self.state.published_at else self.state.submission_version - 1

    async def _send(self, request: EmailRequest) -> None:
        what = f"{request.kind.value.replace('_', ' ')} to {request.recipient.role.replace('_', ' ')}"
        try:
            outcome = await workflow.execute_activity(
                "send_email",
                request,
                task_queue=self.state.email_task_queue,
                start_to_close_timeout=EMAIL_TIMEOUT,
                result_type=EmailOutcome,
                summary=what,
            )
        except ActivityError as err:
            # The email activity retries what can succeed; what reaches here (an SMTP 5xx) needs an operator.
            workflow.logger.error("pledge %s: email %s failed: %s", self.state.pledge_id, what, err.cause)
            self._record("system", "email_failed", f"Email {what} failed: {err.cause}.", public=False)
            await self._commit()
            return
        self.state.last_email = f"{what} ({outcome.state})"
        if outcome.state == "skipped":
            self._record("system", "email_skipped", f"Email {what} not sent: {outcome.detail}.", public=False)
            await self._commit()
        else:
            self._show()

    # --- waiting on the ladder, and continuing as new ------------------------------------------

    async def _climb(self, done: Callable[[], bool], waiting_for: str) -> None:
        """Take the stage's timed steps in order until ``done()``: a person acted or the pledge closed."""
        while not done():
            await self._continue_as_new_if_suggested()
            step = upcoming(self.state)

            def moved(step: Step | None = step) -> bool:
                # An extension moves the step; a handler may end the stage; the server may ask for a new run.
                return done() or upcoming(self.state) != step or workflow.info().is_continue_as_new_suggested()

            if step is None:
                await workflow.wait_condition(moved)
                continue
            remaining = step.at - workflow.now()
            if remaining > dt.timedelta(0):
                try:
                    await workflow.wait_condition(
                        moved,
                        timeout=remaining,
                        timeout_summary=f"waiting for {waiting_for} until {when(step.at)}, then {step.says}",
                    )
                    continue
                except TimeoutError:
                    if done():
                        return
            self.state.steps_done.append(step.name)
            self._take(step)
            await self._commit()

    async def _drain(self) -> None:
        """Let every email and update or signal handler of this run finish."""
        await workflow.wait_condition(
            lambda: all(task.done() for task in self._outbox) and workflow.all_handlers_finished()
        )
        for task in self._outbox:
            task.result()  # an unexpected error fails the workflow task, visibly, instead of vanishing
        self._outbox.clear()

    async def _continue_as_new_if_suggested(self) -> None:
        if workflow.info().is_continue_as_new_suggested():
            await self._continue_as_new()

    async def _continue_as_new(self) -> NoReturn:
        await self._drain()
        workflow.continue_as_new(
            StartInput(pledge_id=self.state.pledge_id, email_task_queue=self.state.email_task_queue, state=self.state)
        )

    def _is(self, *statuses: PledgeStatus) -> bool:
        return self.state.status in statuses
