"""The pledge lifecycle (SPEC 5) as one long-lived workflow: submission, vetting, publication, cycles, closure.

Read ``run`` top to bottom: it is the ladder. Timed steps come from workflows/ladder.py (numbers from the
policy); what people do arrives as updates (workflows/pledge_actions.py), each checked by a validator
before anything reaches history. The run continues as new at every reporting cycle, carrying the state.
"""

from __future__ import annotations

import datetime as dt
import math

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.emails import EmailKind
    from workflows.ladder import Step, StepName, report_deadline, step_at
    from workflows.pledge_actions import PledgeActions
    from workflows.pledge_runtime import when
    from workflows.state import (
        CYCLE_STATUSES,
        QUERY_STATE,
        WORKFLOW_TYPE,
        ClosureReason,
        PledgeState,
        PledgeStatus,
        StartInput,
    )


@workflow.defn(name=WORKFLOW_TYPE)
class PledgeWorkflow(PledgeActions):
    @workflow.init
    def __init__(self, start: StartInput) -> None:
        if start.state is not None:
            self.state = start.state
        else:
            assert start.submission is not None, "a new pledge starts with its submission"
            self.state = PledgeState(
                pledge_id=start.pledge_id,
                submission=start.submission,
                submitted_at=workflow.now(),
                idempotency_key=start.idempotency_key,
                email_task_queue=start.email_task_queue,
            )
        self._start_runtime()

    @workflow.query(name=QUERY_STATE)
    def query_state(self) -> PledgeState:
        return self.state

    @workflow.run
    async def run(self, start: StartInput) -> PledgeState:
        if start.state is None:
            await self._submit()
        while self._is(PledgeStatus.in_review, PledgeStatus.changes_requested):
            if self._is(PledgeStatus.in_review):
                await self._vet()
            else:
                await self._await_revision()
        if self._is(PledgeStatus.published) and self.state.cycle == 0:
            await self._publish()
        while self.state.status in CYCLE_STATUSES:
            await self._run_cycle()
            if self.state.status != PledgeStatus.closed:
                await self._begin_next_cycle()
        return await self._close()

    # --- 1. submission -------------------------------------------------------------------------

    async def _submit(self) -> None:
        await self._load_policy()
        self.state.review_started_at = self.state.submitted_at
        self._record("pledger", "submitted", "Pledge submitted for review.", public=True)
        self._notify(
            EmailKind.submission_received,
            [self._focal()],
            review_days=math.ceil(self.policy.review_reminder_after.total_seconds() / 86_400),
        )
        self._request_review()
        await self._commit()

    # --- 2. vetting, 3. revision ---------------------------------------------------------------

    async def _vet(self) -> None:
        await self._climb(lambda: not self._is(PledgeStatus.in_review), "a vetting decision")

    async def _await_revision(self) -> None:
        await self._climb(lambda: not self._is(PledgeStatus.changes_requested), "a revised submission")

    def _remind_reviewers(self, kind: EmailKind, role: str) -> None:
        assert self.state.review_started_at is not None
        waiting = (workflow.now() - self.state.review_started_at).days
        who = role.replace("_", " ")
        self._record("system", kind.value, f"No vetting decision after {waiting} days: the {who} was told.")
        self._notify(kind, [self._staff(role)], submitted_at=self.state.review_started_at, waiting_days=waiting)

    def _remind_revision(self) -> None:
        deadline = step_at(self.state, StepName.abandon)
        self._record(
            "system", "revision_reminder", f"Revision reminder sent; abandoned if none by {deadline:%Y-%m-%d}."
        )
        self._notify(EmailKind.revision_reminder, [self._focal()], note=self.state.changes_note, deadline=deadline)

    def _abandon(self) -> None:
        self._mark_closed(ClosureReason.abandoned, "system", "No revision arrived in time: closed as abandoned.")
        self._notify(EmailKind.abandoned, [self._focal()])

    # --- 4. publication ------------------------------------------------------------------------

    async def _publish(self) -> None:
        """Open cycle 1 under the policy in force now, tell the pledger, and start the first cycle's run."""
        await self._load_policy()
        if not self._is(PledgeStatus.published):
            return  # withdrawn or closed while the policy was read
        assert self.state.published_at is not None
        self._schedule_cycle(1, self.state.published_at + self.policy.reporting_interval)
        due = self.state.cycle_due_at
        assert due is not None
        self._record("system", "published", f"Published in the registry; first report due {due:%Y-%m-%d}.")
        self._notify(EmailKind.published, [self._focal()], first_report_due=due)
        await self._commit()
        await self._continue_as_new()

    # --- 5-11. reporting cycles ----------------------------------------------------------------

    async def _run_cycle(self) -> None:
        what = "final report" if self.state.final_cycle else f"the report for cycle {self.state.cycle}"
        await self._climb(lambda: self.state.cycle_reported or self._is(PledgeStatus.closed), what)

    async def _begin_next_cycle(self) -> None:
        """The next anniversary (anchored to the first), under the policy in force now, in a new run."""
        await self._load_policy()
        if self._is(PledgeStatus.closed):
            return  # withdrawn or closed while the policy was read
        assert self.state.cycle_due_at is not None
        cycle, due = self.state.cycle + 1, self.state.cycle_due_at + self.policy.reporting_interval
        missed = 0
        while due <= workflow.now():  # anniversaries that passed while the pledge was not reporting
            cycle, due, missed = cycle + 1, due + self.policy.reporting_interval, missed + 1
        if missed:
            self.state.missed_cycles += missed
            passed = "1 anniversary" if missed == 1 else f"{missed} anniversaries"
            self._record("system", "cycles_missed", f"{passed} passed while the pledge was not reporting.")
        self._schedule_cycle(cycle, due)
        await self._commit()
        await self._continue_as_new()

    def _schedule_cycle(self, cycle: int, anniversary: dt.datetime) -> None:
        end = self._end_at()
        final = end is not None and end <= anniversary
        state = self.state
        state.cycle, state.final_cycle = cycle, final
        state.cycle_due_at = max(end, workflow.now()) if final and end else anniversary
        state.cycle_reported, state.extension_days, state.reminders_sent = False, 0, 0
        state.steps_done, state.pending_extension_reason = [], None
        # Only this cycle's count matters for the next email's business key; the rest would only grow.
        state.emails_asked = {key: n for key, n in state.emails_asked.items() if key.startswith(f"{cycle}/")}

    def _request_report(self) -> None:
        self.state.status = PledgeStatus.report_due
        deadline = report_deadline(self.state)
        assert deadline is not None
        if self.state.final_cycle:
            self._record("system", "final_report_requested", f"Final report requested; due by {deadline:%Y-%m-%d}.")
            end_date = self.state.submission.end_date
            self._notify(
                EmailKind.final_report_request, [self._focal()], cycle=self.state.cycle, deadline=deadline,
                end_date=end_date,
            )  # fmt: skip
        else:
            self._record(
                "system",
                "report_requested",
                f"Report for cycle {self.state.cycle} requested; due by {deadline:%Y-%m-%d}.",
            )
            self._notify(EmailKind.report_request, [self._focal()], cycle=self.state.cycle, deadline=deadline)

    def _remind(self, number: int) -> None:
        self.state.reminders_sent = number
        recipients = [self._focal()] if number == 1 else self._contacts()
        kind = EmailKind.reminder_1 if number == 1 else EmailKind.reminder_2
        deadline = report_deadline(self.state)
        who = " and ".join(r.role.replace("_", " ") for r in recipients)
        self._record("system", "reminder_sent", f"Reminder {number} sent to the {who}.")
        self._notify(kind, recipients, thread=self._request_kind(), cycle=self.state.cycle, deadline=deadline)

    def _mark_overdue(self) -> None:
        self.state.status = PledgeStatus.report_overdue
        self.state.missed_cycles += 1
        deadline = report_deadline(self.state)
        what = "final report" if self.state.final_cycle else "report"
        self._record("system", "report_overdue", f"No {what}: overdue. Final notice sent to every contact.")
        cycle = self.state.cycle
        self._notify(
            EmailKind.final_notice, self._contacts(), thread=self._request_kind(), cycle=cycle, deadline=deadline
        )
        self._notify(EmailKind.final_notice, [self._staff("secretariat")], cycle=cycle, deadline=deadline)

    def _mark_non_reporting(self) -> None:
        self.state.status = PledgeStatus.non_reporting
        delisting = report_deadline(self.state)
        self._record(
            "system", "non_reporting", f"Marked non-reporting; delisted on {delisting:%Y-%m-%d} without a report."
        )
        self._notify(
            EmailKind.non_reporting, [self._focal()], thread=self._request_kind(), cycle=self.state.cycle,
            delisting_date=delisting,
        )  # fmt: skip

    def _delist(self) -> None:
        self._mark_closed(ClosureReason.delisted, "system", "No report a year after becoming non-reporting: delisted.")
        self._notify(EmailKind.delisted, self._contacts())

    def _end_without_final_report(self) -> None:
        note = "final report missing"
        self._mark_closed(ClosureReason.ended, "system", "The pledge ended without its final report.", note)
        self._notify(EmailKind.closed, [self._focal()], closure_reason=ClosureReason.ended.value, note=note)

    # --- 12. closure ---------------------------------------------------------------------------

    async def _close(self) -> PledgeState:
        await self._drain()
        await self._commit()
        return self.state

    # --- the timed steps, by name --------------------------------------------------------------

    def _take(self, step: Step) -> None:
        actions = {
            StepName.review_reminder: lambda: self._remind_reviewers(EmailKind.review_overdue, "vetting_team"),
            StepName.review_escalation: lambda: self._remind_reviewers(EmailKind.review_escalated, "vetting_lead"),
            StepName.revision_reminder: self._remind_revision,
            StepName.abandon: self._abandon,
            StepName.request: self._request_report,
            StepName.reminder_1: lambda: self._remind(1),
            StepName.reminder_2: lambda: self._remind(2),
            StepName.overdue: self._mark_overdue,
            StepName.non_reporting: self._mark_non_reporting,
            StepName.delist: self._delist,
            StepName.final_report_missing: self._end_without_final_report,
        }
        actions[step.name]()

    def _waiting_for_person(self) -> str | None:
        if self._is(PledgeStatus.in_review):
            return "a vetting decision by staff (never automatic)"
        if self._is(PledgeStatus.published) and self.state.cycle == 0:
            return f"publication (approved {when(self.state.published_at)})" if self.state.published_at else None
        return None
