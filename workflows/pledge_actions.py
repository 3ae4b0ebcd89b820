"""What people do to a pledge: updates (each with a validator) and the email-reply signal.

A validator refuses with ``ApplicationError(message, status, type=REFUSED_*)`` before anything is written
to history; the API maps the type to 409 / 412 / 422 / 403. A handler changes the state at once (so the
stage waiting in ``run`` sees it), records the registry, and leaves its emails to go out in the background.
"""

from __future__ import annotations

import datetime as dt
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.emails import EmailKind
    from workflows.ladder import StepName, effective_due, report_deadline, step_at
    from workflows.pledge_runtime import KEPT_REPLY_IDS, PledgeRuntime
    from workflows.state import (
        CYCLE_STATUSES,
        OPEN_STATUSES,
        REFUSED_FORBIDDEN,
        REFUSED_INVALID,
        REFUSED_NOT_ALLOWED,
        REFUSED_STALE,
        SIGNAL_EMAIL_REPLY,
        UPDATE_CLOSE,
        UPDATE_DECIDE,
        UPDATE_GRANT_EXTENSION,
        UPDATE_REFUSE_EXTENSION,
        UPDATE_REPORT,
        UPDATE_REQUEST_EXTENSION,
        UPDATE_REVISE,
        UPDATE_WITHDRAW,
        ActionResult,
        ClosureInput,
        ClosureReason,
        Decision,
        DecisionInput,
        EmailReply,
        ExtensionGrantInput,
        ExtensionRefusalInput,
        ExtensionRequestInput,
        PledgeStatus,
        ReportInput,
        ReportRecord,
        ReportSource,
        RevisionInput,
        WithdrawalInput,
    )
    from workflows.submission import Progress, ProgressReport

REINSTATING = frozenset({PledgeStatus.report_overdue, PledgeStatus.non_reporting})


class PledgeActions(PledgeRuntime):
    # --- 2. vetting decision -------------------------------------------------------------------

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, decision: DecisionInput) -> ActionResult:
        await self._submission_settled()
        note = (decision.note or "").strip()
        if decision.decision == Decision.reject:
            message = self._reject(decision.staff, note)
        elif decision.decision == Decision.request_changes:
            message = self._request_changes(decision.staff, note)
        else:
            message = self._approve(decision.staff)
        await self._commit()
        return self._result(message)

    def _approve(self, staff: str) -> str:
        self.state.approvals.append(staff)
        needed = self._approvals_needed()
        if len(self.state.approvals) < needed:
            self._record(f"staff:{staff}", "approval_recorded", f"Approved by {staff} (1 of {needed}).")
            return "Approval recorded; another staff member must approve too."
        self.state.status, self.state.published_at = PledgeStatus.published, workflow.now()
        self._record(f"staff:{staff}", "approved", f"Approved by {' and '.join(self.state.approvals)}.")
        return "Approved: the pledge is being published."

    def _reject(self, staff: str, note: str) -> str:
        self._mark_closed(ClosureReason.rejected, f"staff:{staff}", f"Rejected by {staff}: {note}", note)
        self._notify(EmailKind.rejected, [self._focal()], note=note)
        return "Rejected: the pledge is closed."

    def _request_changes(self, staff: str, note: str) -> str:
        state = self.state
        state.status, state.changes_requested_at, state.changes_note = (
            PledgeStatus.changes_requested, workflow.now(), note,
        )  # fmt: skip
        state.approvals, state.steps_done = [], []
        self._record(f"staff:{staff}", "changes_requested", f"Changes requested by {staff}: {note}")
        deadline = step_at(state, StepName.abandon)
        self._notify(EmailKind.changes_requested, [self._focal()], note=note, deadline=deadline)
        return f"Changes requested: the pledger has until {deadline:%Y-%m-%d} to revise."

    @decide.validator
    def _check_decision(self, decision: DecisionInput) -> None:
        self._require({PledgeStatus.in_review}, "take a vetting decision on")
        if decision.decision != Decision.approve and not (decision.note or "").strip():
            self._refuse(REFUSED_INVALID, f"a note is required to {decision.decision.value.replace('_', ' ')}")
        if decision.decision == Decision.approve and decision.staff in self.state.approvals:
            self._refuse(
                REFUSED_FORBIDDEN, f"{decision.staff} already approved; the second approval must be another person's"
            )

    # --- 3. revision ---------------------------------------------------------------------------

    @workflow.update(name=UPDATE_REVISE)
    async def revise(self, revision: RevisionInput) -> ActionResult:
        await self._submission_settled()
        state = self.state
        state.submission, state.submission_version = revision.submission, state.submission_version + 1
        state.status, state.review_started_at = PledgeStatus.in_review, workflow.now()
        state.changes_requested_at, state.changes_note, state.steps_done = None, None, []
        self._record("pledger", "revised", f"Revised submission (version {state.submission_version}) sent for review.")
        self._request_review()
        await self._commit()
        return self._result(f"Version {state.submission_version} is in review.")

    @revise.validator
    def _check_revision(self, revision: RevisionInput) -> None:
        self._require({PledgeStatus.changes_requested}, "revise")
        expected = revision.expected_version
        if expected is not None and expected != self.state.submission_version:
            self._refuse(
                REFUSED_STALE, f"version {expected} is stale; the current version is {self.state.submission_version}"
            )

    # --- 5-12. reports, by form / API or by email reply ----------------------------------------

    @workflow.update(name=UPDATE_REPORT)
    async def submit_report(self, report: ReportInput) -> ActionResult:
        await self._submission_settled()
        message = self._accept_report(report.report, report.source, report.cycle or self.state.cycle, "pledger")
        await self._commit()
        return self._result(message)

    @submit_report.validator
    def _check_report(self, report: ReportInput) -> None:
        self._require(CYCLE_STATUSES, "report on")
        if report.cycle is not None and not 1 <= report.cycle <= self.state.cycle:
            self._refuse(
                REFUSED_INVALID, f"cycle {report.cycle} does not exist; the current cycle is {self.state.cycle}"
            )

    @workflow.signal(name=SIGNAL_EMAIL_REPLY)
    async def email_reply(self, reply: EmailReply) -> None:
        """A plain reply to a report request counts as a narrative report; a redelivery counts once."""
        await self._submission_settled()
        state = self.state
        if reply.message_id in state.reply_message_ids:
            return
        state.reply_message_ids = [*state.reply_message_ids, reply.message_id][-KEPT_REPLY_IDS:]
        # Mail is whatever the sender's client wrote: a NUL (which no report may hold) is dropped here, or
        # building the report below would fail this workflow task on every retry.
        text = reply.text.replace("\x00", "").strip()[:10_000]
        if state.status not in CYCLE_STATUSES:
            self._record(
                "email",
                "reply_not_counted",
                f"Reply from {reply.sender} not counted: pledge is {state.status}.",
                public=False,
            )
        elif len(text) < 20:
            self._record(
                "email", "reply_not_counted", f"Reply from {reply.sender} too short to count as a report.", public=False
            )
        else:
            report = ProgressReport(progress=Progress.in_progress, narrative=text)
            cycle = reply.cycle if 1 <= reply.cycle <= state.cycle else state.cycle
            self._accept_report(report, "email", cycle, "email")
        await self._commit()

    def _accept_report(self, report: ProgressReport, source: ReportSource, cycle: int, actor: str) -> str:
        """Record a report and settle what it settles. One receipt email per cycle, for the report that
        counts: the send ledger keys emails by (pledge, cycle, kind, recipient), so an interim update or
        an addition is confirmed by the answer to the pledger and by the timeline."""
        state, progress = self.state, report.progress.value.replace("_", " ")
        if cycle < state.cycle or state.cycle_reported:  # the cycle's report is in: this one adds to it
            self._add_report(cycle, source, report, final=False)
            self._record(actor, "report_added", f"Addition to the cycle {cycle} report received ({progress}).")
            return f"Added to the report for cycle {cycle}."
        assert state.policy is not None
        early = workflow.now() >= effective_due(state) - state.policy.early_report_window
        counts = state.status != PledgeStatus.published or early
        if not counts and report.progress != Progress.discontinued:
            self._add_report(state.cycle, source, report, final=False)
            due = f"{effective_due(state):%Y-%m-%d}"
            self._record(
                actor,
                "progress_update",
                f"Progress update received ({progress}); the cycle {state.cycle} report is still due {due}.",
            )
            return f"Progress update recorded; the report for cycle {state.cycle} is still due {due}."
        self._add_report(state.cycle, source, report, final=state.final_cycle)
        reinstated = state.status in REINSTATING
        requested = StepName.request in state.steps_done
        self._notify(
            EmailKind.report_received,
            [self._focal()],
            thread=self._request_kind() if requested else None,
            cycle=state.cycle,
            progress=report.progress.value,
            reinstated=reinstated and report.progress != Progress.discontinued,
        )
        if report.progress == Progress.discontinued:
            self._record(actor, "report_received", "Report received: the pledge is discontinued.")
            self._mark_closed(
                ClosureReason.withdrawn, actor, "Closed as withdrawn: reported discontinued.", "discontinued"
            )
            self._notify(
                EmailKind.withdrawn, [self._focal()], reason="The progress report says the pledge is discontinued."
            )
            return "Report recorded; the pledge is closed as withdrawn (discontinued)."
        if state.final_cycle:
            reason = ClosureReason.completed if report.progress == Progress.completed else ClosureReason.ended
            note = f"final report: {progress}"
            self._record(actor, "final_report_received", f"Final report received ({progress}).")
            self._mark_closed(reason, actor, f"Closed as {reason.value} after the final report.", note)
            self._notify(EmailKind.closed, [self._focal()], closure_reason=reason.value, note=note)
            return f"Final report recorded; the pledge is closed as {reason.value}."
        state.status, state.cycle_reported = PledgeStatus.published, True
        received = f"Report for cycle {state.cycle} received ({progress})"
        if reinstated:
            message = f"{received}; the pledge is reinstated."
        elif not requested:
            message = f"{received} before its anniversary: no request needed."
        else:
            message = f"{received}."
        self._record(actor, "report_received", message)
        return message

    def _add_report(self, cycle: int, source: ReportSource, report: ProgressReport, final: bool) -> None:
        now = workflow.now()
        self.state.reports.append(ReportRecord(cycle=cycle, received_at=now, source=source, final=final, report=report))
        self.state.last_report_at = now

    # --- 13. extensions ------------------------------------------------------------------------

    @workflow.update(name=UPDATE_REQUEST_EXTENSION)
    async def request_extension(self, request: ExtensionRequestInput) -> ActionResult:
        await self._submission_settled()
        self.state.pending_extension_reason = request.reason
        self._record("pledger", "extension_requested", f"Extension requested: {request.reason}", public=False)
        await self._commit()
        return self._result("Extension request sent to staff.")

    @request_extension.validator
    def _check_extension_request(self, request: ExtensionRequestInput) -> None:
        self._require(CYCLE_STATUSES, "ask for an extension on")

    @workflow.update(name=UPDATE_GRANT_EXTENSION)
    async def grant_extension(self, grant: ExtensionGrantInput) -> ActionResult:
        await self._submission_settled()
        self.state.extension_days += grant.days
        self.state.pending_extension_reason = None
        deadline = report_deadline(self.state)
        assert deadline is not None
        self._record(
            f"staff:{grant.staff}",
            "extension_granted",
            f"Extension of {grant.days} days granted ({grant.reason}); the next deadline is now {deadline:%Y-%m-%d}.",
        )
        self._notify(
            EmailKind.extension_granted, [self._focal()], days=grant.days, reason=grant.reason, deadline=deadline
        )
        await self._commit()
        return self._result(f"Extension of {grant.days} days granted.")

    @grant_extension.validator
    def _check_extension_grant(self, grant: ExtensionGrantInput) -> None:
        self._require(CYCLE_STATUSES, "extend")
        assert self.state.policy is not None
        allowed = self.state.policy.max_extension - dt.timedelta(days=self.state.extension_days)
        if dt.timedelta(days=grant.days) > allowed:
            self._refuse(
                REFUSED_INVALID,
                f"{grant.days} days is over the maximum: this cycle may be extended by {allowed.days} more days",
            )

    @workflow.update(name=UPDATE_REFUSE_EXTENSION)
    async def refuse_extension(self, refusal: ExtensionRefusalInput) -> ActionResult:
        await self._submission_settled()
        self.state.pending_extension_reason = None
        self._record(
            f"staff:{refusal.staff}", "extension_refused", f"Extension refused: {refusal.reason}", public=False
        )
        self._notify(EmailKind.extension_refused, [self._focal()], reason=refusal.reason)
        await self._commit()
        return self._result("Extension refused.")

    @refuse_extension.validator
    def _check_extension_refusal(self, refusal: ExtensionRefusalInput) -> None:
        self._require(CYCLE_STATUSES, "refuse an extension on")
        if self.state.pending_extension_reason is None:
            self._refuse(REFUSED_NOT_ALLOWED, "no extension request is waiting for a decision")

    # --- 12. withdrawal and operator closure ---------------------------------------------------

    @workflow.update(name=UPDATE_WITHDRAW)
    async def withdraw(self, withdrawal: WithdrawalInput) -> ActionResult:
        await self._submission_settled()
        reason = (withdrawal.reason or "").strip()
        self._mark_closed(
            ClosureReason.withdrawn,
            "pledger",
            f"Withdrawn by the pledger{': ' + reason if reason else '.'}",
            reason or None,
        )
        self._notify(EmailKind.withdrawn, [self._focal()], reason=reason)
        await self._commit()
        return self._result("The pledge is withdrawn.")

    @withdraw.validator
    def _check_withdrawal(self, withdrawal: WithdrawalInput) -> None:
        self._require(OPEN_STATUSES, "withdraw")

    @workflow.update(name=UPDATE_CLOSE)
    async def close(self, closure: ClosureInput) -> ActionResult:
        await self._submission_settled()
        reason = closure.reason.strip()
        self._mark_closed(ClosureReason.removed, f"staff:{closure.staff}", f"Closed by an operator: {reason}", reason)
        self._notify(EmailKind.closed, [self._focal()], closure_reason=ClosureReason.removed.value, note=reason)
        await self._commit()
        return self._result("The pledge is closed (removed).")

    @close.validator
    def _check_closure(self, closure: ClosureInput) -> None:
        self._require(OPEN_STATUSES, "close")
        if not closure.reason.strip():
            self._refuse(REFUSED_INVALID, "a reason is required to close a pledge")

    # --- shared by handlers and stages ---------------------------------------------------------

    def _request_review(self) -> None:
        self._notify(
            EmailKind.review_requested,
            [self._staff("vetting_team")],
            submitted_at=self.state.review_started_at,
            financial_usd=self.state.submission.resources.financial_usd,
            approvals_needed=self._approvals_needed(),
        )

    def _mark_closed(self, reason: ClosureReason, actor: str, message: str, note: str | None = None) -> None:
        self.state.status, self.state.closure_reason, self.state.closure_note = PledgeStatus.closed, reason, note
        self._record(actor, reason.value, message)

    def _approvals_needed(self) -> int:
        assert self.state.policy is not None
        return 2 if self.state.submission.resources.financial_usd > self.state.policy.two_approvals_above_usd else 1

    def _request_kind(self) -> EmailKind:
        return EmailKind.final_report_request if self.state.final_cycle else EmailKind.report_request

    def _end_at(self) -> dt.datetime | None:
        end = self.state.submission.end_date
        return dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC) if end else None

    def _result(self, message: str) -> ActionResult:
        return ActionResult(
            status=self.state.status,
            message=message,
            submission_version=self.state.submission_version,
            next_deadline=self.state.next_deadline,
        )

    def _require(self, statuses: frozenset[PledgeStatus] | set[PledgeStatus], action: str) -> None:
        if self.state.status not in statuses:
            self._refuse(REFUSED_NOT_ALLOWED, f"cannot {action} a pledge that is {self.state.status.value}")

    def _refuse(self, kind: str, message: str) -> NoReturn:
        raise ApplicationError(message, self.state.status.value, type=kind)
