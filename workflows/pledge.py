"""The pledge lifecycle as one long-lived workflow, in the order of the ladder (docs/lifecycle.md):
submission, vetting, revision, publication, reporting cycles, extensions, closure.

``run`` is the ladder; each stage is a short method, and the people's actions that move a stage on
(updates and the email-reply signal) stand next to it, each checked by a validator before anything
reaches history. Timed steps and their times come from workflows/ladder.py, the rules (who may act,
what a report settles) from workflows/rules.py; the workflow holds the plumbing as objects: the
outbox (emails in the background), the registry projector and the operator view. The run continues
as new at every reporting cycle, carrying the one state object.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    # By full name: `from workflows import rules` loads the submodule through importlib's own path, past the
    # sandbox's importer, so every cached run kept its own copy of rules.py and placement.py (issue 10).
    import workflows.placement as placement
    import workflows.rules as rules
    from workflows.changes import Baseline, Changes
    from workflows.emails import Delivery, EmailKind, EmailOutcome, Recipient, RecipientRole
    from workflows.ladder import Step, effective_due, format_utc, report_deadline, step_at, upcoming
    from workflows.operator_view import OperatorView
    from workflows.outbox import PATCH_MAIL_IN_ORDER, PATCH_ONE_MAIL_QUEUE, Outbox
    from workflows.policy import LoadedPolicy, Policy
    from workflows.projection import (
        PATCH_BOUNDED_STATE,
        PATCH_LOCAL_ACTIVITIES,
        PATCH_REGISTRY_BEHIND_SHOWN,
        RegistryProjector,
        run_short_activity,
    )
    from workflows.rules import ReportEffect
    from workflows.state import (
        CYCLE_STATUSES,
        KEPT_UPDATE_IDS,
        QUERY_STATE,
        SIGNAL_EMAIL_REPLY,
        UPDATE_CLOSE,
        UPDATE_DECIDE,
        UPDATE_GRANT_EXTENSION,
        UPDATE_REFUSE_EXTENSION,
        UPDATE_RENEW_LINKS,
        UPDATE_REPORT,
        UPDATE_REQUEST_EXTENSION,
        UPDATE_RESEND_EMAIL,
        UPDATE_RETRY_WINDOW,
        UPDATE_REVISE,
        UPDATE_STOP_REMINDERS,
        UPDATE_WITHDRAW,
        WORKFLOW_TYPE,
        Action,
        ActionResult,
        Actor,
        AppliedUpdate,
        ClosureInput,
        ClosureReason,
        Decision,
        DecisionInput,
        EmailReply,
        EventKind,
        ExtensionGrantInput,
        ExtensionRefusalInput,
        ExtensionRequestInput,
        ImportedPledge,
        LinksRenewalInput,
        PledgeState,
        PledgeStatus,
        ReportInput,
        ReportRecord,
        ReportSource,
        ResendInput,
        RevisionInput,
        StartInput,
        StepName,
        StopRemindersInput,
        TimelineEvent,
        WithdrawalInput,
    )
    from workflows.submission import NARRATIVE_MAX_CHARS, NARRATIVE_MIN_CHARS, Progress, ProgressReport

POLICY_TIMEOUT = dt.timedelta(seconds=30)
REVOCATION_TIMEOUT = dt.timedelta(seconds=30)
KEPT_REPLY_IDS = 200  # enough to recognise a redelivered reply; the inbound receiver dedups too
# Issue 9: reminders are no longer asked for contacts who unsubscribed from them (one-click).
PATCH_STOP_REMINDERS = "9-stop-reminders"

# An action checks again, after waiting for the submission stage, what its validator checked: two exclusive
# actions validated in one activation (approve and reject) no longer both apply. Guarded: a pledge that
# already ran into such a race replays as it ran.
PATCH_EXCLUSIVE = "13-exclusive-actions"
# A retry of an action (the same update id) that reaches a later run answers with the first run's result
# instead of applying again; the server deduplicates update ids within one run only.
PATCH_UPDATE_IDS = "13-update-ids"
# Issue 14: only the main coroutine schedules the registry projection. An update handler, the reply signal
# or a settled email asks for it and waits until the main coroutine has projected: two coroutines that
# scheduled activities in one activation (an approval's projection, the publication's policy read) made
# the commands' order depend on how the jobs of that activation were batched, which a replay of the
# same history need not repeat. It also folds the decision's projection into the publication's (issue 10).
PATCH_VIEWS_FROM_MAIN = "14-views-from-main"
# Issue 14: a stalled mail never rushes a consequence. Non-reporting (or the end, in the final cycle) waits for
# the final notice to the contacts to settle and then leaves the whole grace from then; delisting waits so for
# the non-reporting notice.
PATCH_WARNED_FIRST = "14-warned-first"
# A sent email shows as the pledge's "last_email" memo, so the workflow task that takes its result always ends
# with a command. One that ended with none (the view had nothing new) could be folded by the SDK's core, on
# a worker that had not cached the pledge, into the next task when that one carried updates: the email's
# result then reached the workflow after the updates (a reject waited for an email already sent, an upsert
# moved), while a replay of the same history applies it first, and the replay failed. Measured with
# tests/workflows/restart_rounds.py on a loaded machine (docs/reliability.md).
PATCH_MAIL_SHOWN = "14-mail-shown"
# Issue 14: a run that comes late (a long worker outage) takes a passed reminder only if the step after it is
# not due too: no burst of stale reminders in one second, the steps with consequences all taken.
PATCH_NO_STALE_REMINDERS = "14-no-stale-reminders"
# Issue 14: the timeline says a reminder, a final notice or a resend is queued when the workflow asks for it,
# and records that it was sent once the SMTP server accepted it ("Reminder 2 sent" stood on the timeline of
# pledges whose reminders an SMTP outage held back).
PATCH_QUEUED_UNTIL_SENT = "14-queued-until-sent"
# Issue 10: continue-as-new carries only what the next run needs, so the carried state stays flat over the
# years: of the timeline and the reports, what the registry does not have yet and the newest event; of the
# applied update ids, those a client may still retry (UPDATE_RETRY_WINDOW). Each of them grew by a year's
# worth every cycle. Guarded: a run recorded before carried everything on.
PATCH_CARRY_WHAT_IS_NEEDED = "10-carry-what-is-needed"
# An email the server was handed but never answered for ("unconfirmed": never sent again by itself) is said so
# on the staff timeline whatever its kind; only one the timeline had announced as queued was. The fault suite
# met a submission email stranded so, with nothing on the pledge to tell staff it may not have gone.
PATCH_UNCONFIRMED_SHOWN = "10-unconfirmed-shown"
# Issue 10: a run takes all of the changes above under one marker asked in its first activation, instead of
# asking each where the code first needs it; one asked just after a local activity could fail the pledge's
# replay (workflows/changes.py). A change made from now on is asked lazily until a later baseline lists it.
BASELINES = (
    Baseline(
        "10-baseline",
        frozenset(
            {
                PATCH_STOP_REMINDERS,
                PATCH_EXCLUSIVE,
                PATCH_UPDATE_IDS,
                PATCH_VIEWS_FROM_MAIN,
                PATCH_WARNED_FIRST,
                PATCH_MAIL_SHOWN,
                PATCH_NO_STALE_REMINDERS,
                PATCH_QUEUED_UNTIL_SENT,
                PATCH_CARRY_WHAT_IS_NEEDED,
                PATCH_UNCONFIRMED_SHOWN,
                PATCH_MAIL_IN_ORDER,
                PATCH_ONE_MAIL_QUEUE,
                PATCH_BOUNDED_STATE,
                PATCH_REGISTRY_BEHIND_SHOWN,
                PATCH_LOCAL_ACTIVITIES,
            }
        ),
    ),
)
REMINDERS = (StepName.review_reminder, StepName.revision_reminder, StepName.reminder_1, StepName.reminder_2)


@workflow.defn(name=WORKFLOW_TYPE)
class PledgeWorkflow:
    @workflow.init
    def __init__(self, start: StartInput) -> None:
        self._changes = Changes(BASELINES)  # first: before anything asks for a change
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
        self._outbox = Outbox(self.state, self._email_settled, self._changes)
        self._registry = RegistryProjector(self.state, self._registry_refused, self._changes)
        self._operator_view = OperatorView(self.state)
        # Projections asked for by handlers, and the last one of them the main coroutine made.
        self._views_asked = self._views_shown = 0
        self._operator_view.show_details()  # a continued run shows where the pledge stands before its first step

    @workflow.query(name=QUERY_STATE)
    def query_state(self) -> PledgeState:
        return self.state

    @workflow.run
    async def run(self, start: StartInput) -> PledgeState:
        if start.state is None and start.imported is not None:
            await self._import(start.imported)
        elif start.state is None:
            await self._submit()
        while self._status_is(PledgeStatus.in_review, PledgeStatus.changes_requested):
            if self._status_is(PledgeStatus.in_review):
                await self._vet()
            else:
                await self._await_revision()
        if self._status_is(PledgeStatus.published) and self.state.cycle == 0:
            await self._publish()
        while self.state.status in CYCLE_STATUSES:
            await self._run_cycle()
            if self.state.status != PledgeStatus.closed:
                await self._begin_next_cycle()
        return await self._close()

    @property
    def policy(self) -> Policy:
        assert self.state.policy is not None, "the policy is loaded before the first stage"
        return self.state.policy

    # --- 1. submission -------------------------------------------------------------------------

    async def _submit(self) -> None:
        await self._load_policy()
        self.state.review_started_at = self.state.submitted_at
        self._record(Actor.pledger, EventKind.submitted, "Pledge submitted for review.", public=True)
        self._outbox.to_focal_point(
            EmailKind.submission_received,
            review_days=math.ceil(self.policy.review_reminder_after.total_seconds() / 86_400),
        )
        self._request_review()
        await self._update_views()

    async def _submission_settled(self) -> None:
        """Every action waits for the submission stage: the API answers 202 once the workflow starts, so a
        decision can arrive while the policy is still being read; it must land after "submitted"."""
        await workflow.wait_condition(lambda: self.state.policy is not None and bool(self.state.timeline))

    async def _import(self, imported: ImportedPledge) -> None:
        """A pledge from an earlier registry, placed where the policy says its ladder stands now (docs/import.md):
        the steps before now on its timeline as having happened, no email for any of them, and with
        ``notify`` the email of the step it stands at."""
        await self._load_policy()
        placement.place(self.state, imported, workflow.now())
        self._record(Actor.system, EventKind.imported, placement.describe(self.state, imported))
        if imported.notify:
            self._notify_imported()
        await self._update_views()

    def _notify_imported(self) -> None:
        """The email asking for what an imported pledge waits for now; the earlier registry's mail had no
        link of ours, so it is the request (or notice) of its current step, sent from here."""
        state = self.state
        cycle, deadline = state.cycle, report_deadline(state)
        if state.status == PledgeStatus.in_review:
            self._request_review()
        elif state.status == PledgeStatus.changes_requested:
            abandon = step_at(state, StepName.abandon)
            self._outbox.to_focal_point(EmailKind.changes_requested, note=state.changes_note, deadline=abandon)
        elif state.status == PledgeStatus.published and cycle == 1:
            self._outbox.to_focal_point(EmailKind.published, first_report_due=state.cycle_due_at)
        elif state.status == PledgeStatus.report_due and state.final_cycle:
            end = state.submission.end_date
            self._outbox.to_focal_point(EmailKind.final_report_request, cycle=cycle, deadline=deadline, end_date=end)
        elif state.status == PledgeStatus.report_due:
            self._outbox.to_focal_point(EmailKind.report_request, cycle=cycle, deadline=deadline)
        elif state.status == PledgeStatus.report_overdue:
            contacts, thread = rules.contacts(state), rules.request_kind(state)
            self._outbox.send(EmailKind.final_notice, contacts, thread=thread, cycle=cycle, deadline=deadline)
            secretariat = rules.staff(state, RecipientRole.secretariat)
            self._outbox.send(EmailKind.final_notice, [secretariat], cycle=cycle, deadline=deadline)
        elif state.status == PledgeStatus.non_reporting:
            thread = rules.request_kind(state)
            self._outbox.to_focal_point(EmailKind.non_reporting, thread=thread, cycle=cycle, delisting_date=deadline)

    def _request_review(self) -> None:
        self._outbox.send(
            EmailKind.review_requested,
            [rules.staff(self.state, RecipientRole.vetting_team)],
            submitted_at=self.state.review_started_at,
            financial_usd=self.state.submission.resources.financial_usd,
            approvals_needed=rules.approvals_needed(self.state),
        )

    # --- 2. vetting ----------------------------------------------------------------------------

    async def _vet(self) -> None:
        await self._take_timed_steps(lambda: not self._status_is(PledgeStatus.in_review), "a vetting decision")

    def _remind_reviewers(self, kind: EmailKind, role: RecipientRole) -> None:
        assert self.state.review_started_at is not None
        waiting = (workflow.now() - self.state.review_started_at).days
        who = role.value.replace("_", " ")
        self._record(
            Actor.system, EventKind(kind.value), f"No vetting decision after {waiting} days: the {who} was told."
        )
        self._outbox.send(
            kind, [rules.staff(self.state, role)], submitted_at=self.state.review_started_at, waiting_days=waiting
        )

    @workflow.update(name=UPDATE_DECIDE)
    async def decide(self, decision: DecisionInput) -> ActionResult:
        return await self._act(lambda: rules.decision_refusal(self.state, decision), lambda: self._decision(decision))

    @decide.validator
    def _check_decision(self, decision: DecisionInput) -> None:
        self._check(rules.decision_refusal(self.state, decision))

    def _decision(self, decision: DecisionInput) -> str:
        note = (decision.note or "").strip()
        if decision.decision == Decision.reject:
            return self._reject(decision.staff, note)
        if decision.decision == Decision.request_changes:
            return self._request_changes(decision.staff, note)
        return self._approve(decision.staff)

    def _approve(self, staff: str) -> str:
        self.state.approvals.append(staff)
        needed = rules.approvals_needed(self.state)
        if len(self.state.approvals) < needed:
            recorded = f"Approval 1 of {needed} recorded by the vetting team."
            self._record(Actor.staff, EventKind.approval_recorded, recorded, staff=staff)
            return "Approval recorded; another staff member must approve too."
        self.state.status, self.state.published_at = PledgeStatus.published, workflow.now()
        # Public from now on: the timeline names the role, the staff member stays in the staff-only actor.
        approved = "Approved by the vetting team" + (f" ({needed} approvals)." if needed > 1 else ".")
        self._record(Actor.staff, EventKind.approved, approved, staff=staff)
        return "Approved: the pledge is being published."

    def _reject(self, staff: str, note: str) -> str:
        self._mark_closed(ClosureReason.rejected, Actor.staff, f"Rejected in vetting: {note}", note, staff=staff)
        self._outbox.to_focal_point(EmailKind.rejected, note=note)
        return "Rejected: the pledge is closed."

    def _request_changes(self, staff: str, note: str) -> str:
        state = self.state
        state.status, state.changes_requested_at, state.changes_note = (
            PledgeStatus.changes_requested, workflow.now(), note
        )  # fmt: skip
        state.approvals, state.steps_done = [], []
        self._record(Actor.staff, EventKind.changes_requested, f"Changes requested in vetting: {note}", staff=staff)
        deadline = step_at(state, StepName.abandon)
        self._outbox.to_focal_point(EmailKind.changes_requested, note=note, deadline=deadline)
        return f"Changes requested: the pledger has until {deadline:%Y-%m-%d} to revise."

    # --- 3. revision ---------------------------------------------------------------------------

    async def _await_revision(self) -> None:
        await self._take_timed_steps(
            lambda: not self._status_is(PledgeStatus.changes_requested), "a revised submission"
        )

    def _remind_revision(self) -> None:
        deadline = step_at(self.state, StepName.abandon)
        queued = self._changes.taken(PATCH_QUEUED_UNTIL_SENT)
        event = self._record(
            Actor.system,
            EventKind.revision_reminder,
            f"Revision reminder {'queued' if queued else 'sent'}; without a revision by {deadline:%Y-%m-%d} "
            "the pledge will be closed as abandoned.",
        )
        self._outbox.to_focal_point(
            EmailKind.revision_reminder,
            note=self.state.changes_note,
            deadline=deadline,
            announced=event if queued else None,
        )

    def _abandon(self) -> None:
        self._mark_closed(ClosureReason.abandoned, Actor.system, "No revision arrived in time: closed as abandoned.")
        self._outbox.to_focal_point(EmailKind.abandoned)

    @workflow.update(name=UPDATE_REVISE)
    async def revise(self, revision: RevisionInput) -> ActionResult:
        return await self._act(lambda: rules.revision_refusal(self.state, revision), lambda: self._revise(revision))

    @revise.validator
    def _check_revision(self, revision: RevisionInput) -> None:
        self._check(rules.revision_refusal(self.state, revision))

    def _revise(self, revision: RevisionInput) -> str:
        state = self.state
        state.previous_submission = state.submission
        state.submission, state.submission_version = revision.submission, state.submission_version + 1
        state.status, state.review_started_at = PledgeStatus.in_review, workflow.now()
        state.changes_requested_at, state.changes_note, state.steps_done = None, None, []
        self._record(
            Actor.pledger,
            EventKind.revised,
            f"Revised submission (version {state.submission_version}) sent for review.",
        )
        self._request_review()
        return f"Version {state.submission_version} is in review."

    # --- 4. publication ------------------------------------------------------------------------

    async def _publish(self) -> None:
        """Open cycle 1 under the policy in force now, tell the pledger, and start the first cycle's run."""
        await self._load_policy()
        if not self._status_is(PledgeStatus.published):
            return  # withdrawn or closed while the policy was read
        assert self.state.published_at is not None
        self._schedule_cycle(1, self.state.published_at + self.policy.reporting_interval)
        due = self.state.cycle_due_at
        assert due is not None
        self.state.previous_submission = None  # the diff served the review; the next run need not carry it
        self._record(Actor.system, EventKind.published, f"Published in the registry; first report due {due:%Y-%m-%d}.")
        self._outbox.to_focal_point(EmailKind.published, first_report_due=due)
        await self._update_views()
        await self._continue_as_new()

    # --- 5-11. reporting cycles ----------------------------------------------------------------

    async def _run_cycle(self) -> None:
        what = "final report" if self.state.final_cycle else f"the report for cycle {self.state.cycle}"
        await self._take_timed_steps(lambda: self.state.cycle_reported or self._status_is(PledgeStatus.closed), what)

    async def _begin_next_cycle(self) -> None:
        """The next anniversary (anchored to the first), under the policy in force now, in a new run."""
        await self._load_policy()
        if self._status_is(PledgeStatus.closed):
            return  # withdrawn or closed while the policy was read
        assert self.state.cycle_due_at is not None
        cycle, due = self.state.cycle + 1, self.state.cycle_due_at + self.policy.reporting_interval
        missed = 0
        while due <= workflow.now():  # anniversaries that passed while the pledge was not reporting
            cycle, due, missed = cycle + 1, due + self.policy.reporting_interval, missed + 1
        if missed:
            self.state.missed_cycles += missed
            passed = "1 anniversary" if missed == 1 else f"{missed} anniversaries"
            self._record(Actor.system, EventKind.cycles_missed, f"{passed} passed while the pledge was not reporting.")
        self._schedule_cycle(cycle, due)
        await self._update_views()
        await self._continue_as_new()

    def _schedule_cycle(self, cycle: int, anniversary: dt.datetime) -> None:
        rules.open_cycle(self.state, cycle, anniversary, workflow.now())
        self._outbox.forget_other_cycles(cycle)

    def _request_report(self) -> None:
        state = self.state
        state.status = PledgeStatus.report_due
        deadline = report_deadline(state)
        assert deadline is not None
        if state.final_cycle:
            self._record(
                Actor.system, EventKind.final_report_requested, f"Final report requested; due by {deadline:%Y-%m-%d}."
            )
            self._outbox.to_focal_point(EmailKind.final_report_request, cycle=state.cycle, deadline=deadline,
                end_date=state.submission.end_date
            )  # fmt: skip
        else:
            self._record(
                Actor.system,
                EventKind.report_requested,
                f"Report for reporting cycle {state.cycle} requested; due by {deadline:%Y-%m-%d}.",
            )
            self._outbox.to_focal_point(EmailKind.report_request, cycle=state.cycle, deadline=deadline)

    def _remind(self, number: int) -> None:
        state = self.state
        kind = EmailKind.reminder_1 if number == 1 else EmailKind.reminder_2
        everyone = [rules.focal_point(state)] if number == 1 else rules.contacts(state)
        recipients = self._still_reminded(kind, everyone)
        if not recipients:
            return
        deadline = report_deadline(state)
        queued = self._changes.taken(PATCH_QUEUED_UNTIL_SENT)
        said = f"Reminder {number} {'queued for' if queued else 'sent to'} the {_roles(recipients)}."
        event = self._record(Actor.system, EventKind.reminder_sent, said)
        self._outbox.send(
            kind,
            recipients,
            thread=rules.request_kind(state),
            announced=event if queued else None,
            cycle=state.cycle,
            deadline=deadline,
        )

    def _mark_overdue(self) -> None:
        state = self.state
        state.status = PledgeStatus.report_overdue
        state.missed_cycles += 1
        deadline = report_deadline(state)
        what = "final report" if state.final_cycle else "report"
        everyone = rules.contacts(state)
        contacts = self._still_reminded(EmailKind.final_notice, everyone)
        told = "every contact" if contacts == everyone else f"the {_roles(contacts)}"
        queued = bool(contacts) and self._changes.taken(PATCH_QUEUED_UNTIL_SENT)
        notice = f" Final notice {'queued for' if queued else 'sent to'} {told}." if contacts else ""
        event = self._record(Actor.system, EventKind.report_overdue, f"No {what}: overdue.{notice}")
        thread, cycle = rules.request_kind(state), state.cycle
        if contacts:
            announced = event if queued else None
            self._outbox.send(
                EmailKind.final_notice, contacts, thread=thread, announced=announced, cycle=cycle, deadline=deadline
            )
            if self._changes.taken(PATCH_WARNED_FIRST):
                self._outbox.await_warning(EmailKind.final_notice, len(contacts))
        secretariat = rules.staff(state, RecipientRole.secretariat)
        self._outbox.send(EmailKind.final_notice, [secretariat], cycle=cycle, deadline=deadline)

    def _still_reminded(self, kind: EmailKind, recipients: list[Recipient]) -> list[Recipient]:
        """Contacts who stopped reminders (one-click unsubscribe) are not asked for; the staff timeline says so."""
        stopped = rules.unsubscribed(self.state, recipients)
        if not stopped or not self._changes.taken(PATCH_STOP_REMINDERS):
            return recipients
        what = kind.value.replace("_", " ")
        for contact in stopped:
            role = contact.role.value.replace("_", " ")
            not_sent = f"Email {what} to {role} not sent: {contact.email.lower()} unsubscribed from reminders."
            self._record(Actor.system, EventKind.email_skipped, not_sent, public=False)
        return [recipient for recipient in recipients if recipient not in stopped]

    @workflow.update(name=UPDATE_STOP_REMINDERS)
    async def stop_reminders(self, stop: StopRemindersInput) -> ActionResult:
        """A contact's one-click unsubscribe: no more reminders to them for this pledge; the pledge goes on,
        with its report requests and notices, and its other contacts' reminders. A repeat changes nothing."""
        return await self._act(
            lambda: rules.stop_reminders_refusal(self.state, stop), lambda: self._stop_reminders(stop)
        )

    @stop_reminders.validator
    def _check_stop_reminders(self, stop: StopRemindersInput) -> None:
        self._check(rules.stop_reminders_refusal(self.state, stop))

    def _stop_reminders(self, stop: StopRemindersInput) -> str:
        contact = rules.contact_at(self.state, stop.recipient)
        assert contact is not None, "the validator refuses an address that is not a contact"
        role, address = contact.role.value.replace("_", " "), contact.email.lower()
        if address in self.state.reminders_stopped:
            return f"Reminders to the {role} of this pledge were already stopped."
        self.state.reminders_stopped = [*self.state.reminders_stopped, address]
        # A contact's address is never public: this line is the staff timeline's only.
        stopped = f"The {role} ({address}) unsubscribed from reminders."
        self._record(Actor.pledger, EventKind.reminders_stopped, stopped, public=False)
        self._outbox.send(
            EmailKind.reminders_stopped,
            [rules.staff(self.state, RecipientRole.secretariat)],
            contact_role=contact.role.value,
            contact_name=contact.name,
            contact_email=contact.email,
        )
        return f"Reminders to the {role} of this pledge are stopped; the pledge itself goes on."

    def _mark_non_reporting(self) -> None:
        state = self.state
        state.status = PledgeStatus.non_reporting
        delisting = report_deadline(state)
        self._record(
            Actor.system,
            EventKind.non_reporting,
            f"Marked non-reporting; without a report by {delisting:%Y-%m-%d} it will be delisted.",
        )
        self._outbox.to_focal_point(EmailKind.non_reporting, thread=rules.request_kind(state), cycle=state.cycle,
            delisting_date=delisting
        )  # fmt: skip
        if self._changes.taken(PATCH_WARNED_FIRST):
            self._outbox.await_warning(EmailKind.non_reporting, 1)

    def _delist(self) -> None:
        message = "No report a year after becoming non-reporting: delisted."
        self._mark_closed(ClosureReason.delisted, Actor.system, message)
        self._outbox.send(EmailKind.delisted, rules.contacts(self.state))

    def _end_without_final_report(self) -> None:
        note = "final report missing"
        self._mark_closed(ClosureReason.ended, Actor.system, "The pledge ended without its final report.", note)
        self._outbox.to_focal_point(EmailKind.closed, closure_reason=ClosureReason.ended.value, note=note)

    @workflow.update(name=UPDATE_REPORT)
    async def submit_report(self, report: ReportInput) -> ActionResult:
        return await self._act(
            lambda: rules.report_refusal(self.state, report),
            lambda: self._accept_report(report.report, report.source, report.cycle or self.state.cycle, Actor.pledger),
        )

    @submit_report.validator
    def _check_report(self, report: ReportInput) -> None:
        self._check(rules.report_refusal(self.state, report))

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
        text = reply.text.replace("\x00", "").strip()[:NARRATIVE_MAX_CHARS]
        if state.status not in CYCLE_STATUSES:
            not_counted = f"Reply from {reply.sender} not counted: pledge is {state.status}."
            self._record(Actor.email, EventKind.reply_not_counted, not_counted, public=False)
        elif len(text) < NARRATIVE_MIN_CHARS:
            not_counted = f"Reply from {reply.sender} too short to count as a report."
            self._record(Actor.email, EventKind.reply_not_counted, not_counted, public=False)
        else:
            report = ProgressReport(progress=Progress.in_progress, narrative=text)
            cycle = reply.cycle if 1 <= reply.cycle <= state.cycle else state.cycle
            self._accept_report(report, "email", cycle, Actor.email)
        await self._show_from_handler()

    def _accept_report(self, report: ProgressReport, source: ReportSource, cycle: int, actor: Actor) -> str:
        """Record a report and settle what it settles. One receipt email per cycle, for the report that
        counts: the send ledger keys emails by (pledge, cycle, kind, recipient), so an interim update or
        an addition is confirmed by the answer to the pledger and by the timeline."""
        state, progress = self.state, report.progress.value.replace("_", " ")
        effect = rules.report_effect(state, report, cycle, workflow.now())
        if effect == ReportEffect.addition:
            self._add_report(cycle, source, report, final=False)
            added = f"Addition to the report for reporting cycle {cycle} received ({progress})."
            self._record(actor, EventKind.report_added, added)
            return f"Added to the report for cycle {cycle}."
        if effect == ReportEffect.progress_update:
            self._add_report(state.cycle, source, report, final=False)
            due = f"{effective_due(state):%Y-%m-%d}"
            self._record(
                actor,
                EventKind.progress_update,
                f"Progress update received ({progress}); "
                f"the report for reporting cycle {state.cycle} is still due {due}.",
            )
            return f"Progress update recorded; the report for cycle {state.cycle} is still due {due}."
        self._add_report(state.cycle, source, report, final=state.final_cycle)
        reinstated, requested = state.status in rules.REINSTATING, rules.was_requested(state)
        self._outbox.to_focal_point(
            EmailKind.report_received,
            thread=rules.request_kind(state) if requested else None,
            cycle=state.cycle,
            progress=report.progress.value,
            reinstated=reinstated and effect != ReportEffect.discontinued,
            # A reply by email is a draft the pledger may correct: the receipt shows what was taken from it.
            reply_text=report.narrative if source == "email" else None,
        )
        if effect == ReportEffect.discontinued:
            self._record(actor, EventKind.report_received, "Report received: the pledge is discontinued.")
            closed = "Closed as withdrawn: reported discontinued."
            self._mark_closed(ClosureReason.withdrawn, actor, closed, "discontinued")
            reason = "The progress report says the pledge is discontinued."
            self._outbox.to_focal_point(EmailKind.withdrawn, reason=reason)
            return "Report recorded; the pledge is closed as withdrawn (discontinued)."
        if effect == ReportEffect.final:
            closure = ClosureReason.completed if report.progress == Progress.completed else ClosureReason.ended
            note = f"final report: {progress}"
            self._record(actor, EventKind.final_report_received, f"Final report received ({progress}).")
            self._mark_closed(closure, actor, f"Closed as {closure.value} after the final report.", note)
            self._outbox.to_focal_point(EmailKind.closed, closure_reason=closure.value, note=note)
            return f"Final report recorded; the pledge is closed as {closure.value}."
        state.status, state.cycle_reported = PledgeStatus.published, True
        received = f"Report for reporting cycle {state.cycle} received ({progress})"
        if reinstated:
            message = f"{received}; the pledge is reinstated."
        elif not requested:
            message = f"{received} before its anniversary: no request needed."
        else:
            message = f"{received}."
        self._record(actor, EventKind.report_received, message)
        return message

    def _add_report(self, cycle: int, source: ReportSource, report: ProgressReport, final: bool) -> None:
        now = workflow.now()
        self.state.reports.append(ReportRecord(cycle=cycle, received_at=now, source=source, final=final, report=report))
        self.state.last_report_at = now

    # --- 13. extensions ------------------------------------------------------------------------

    @workflow.update(name=UPDATE_REQUEST_EXTENSION)
    async def request_extension(self, request: ExtensionRequestInput) -> ActionResult:
        return await self._act(
            lambda: rules.not_accepted(self.state, Action.request_extension), lambda: self._ask_extension(request)
        )

    @request_extension.validator
    def _check_extension_request(self, request: ExtensionRequestInput) -> None:
        self._check(rules.not_accepted(self.state, Action.request_extension))

    def _ask_extension(self, request: ExtensionRequestInput) -> str:
        self.state.pending_extension_reason = request.reason
        self._record(
            Actor.pledger, EventKind.extension_requested, f"Extension requested: {request.reason}", public=False
        )
        return "Extension request sent to staff."

    @workflow.update(name=UPDATE_GRANT_EXTENSION)
    async def grant_extension(self, grant: ExtensionGrantInput) -> ActionResult:
        return await self._act(
            lambda: rules.extension_grant_refusal(self.state, grant), lambda: self._grant_extension(grant)
        )

    @grant_extension.validator
    def _check_extension_grant(self, grant: ExtensionGrantInput) -> None:
        self._check(rules.extension_grant_refusal(self.state, grant))

    def _grant_extension(self, grant: ExtensionGrantInput) -> str:
        self.state.extension_days += grant.days
        self.state.pending_extension_reason = None
        deadline = report_deadline(self.state)
        assert deadline is not None
        self._record(
            Actor.staff,
            EventKind.extension_granted,
            f"Extension of {grant.days} days granted ({grant.reason}); the next deadline is now {deadline:%Y-%m-%d}.",
            staff=grant.staff,
        )
        self._outbox.to_focal_point(
            EmailKind.extension_granted, days=grant.days, reason=grant.reason, deadline=deadline
        )
        return f"Extension of {grant.days} days granted."

    @workflow.update(name=UPDATE_REFUSE_EXTENSION)
    async def refuse_extension(self, refusal: ExtensionRefusalInput) -> ActionResult:
        return await self._act(
            lambda: rules.extension_refusal_refusal(self.state), lambda: self._refuse_extension(refusal)
        )

    @refuse_extension.validator
    def _check_extension_refusal(self, refusal: ExtensionRefusalInput) -> None:
        self._check(rules.extension_refusal_refusal(self.state))

    def _refuse_extension(self, refusal: ExtensionRefusalInput) -> str:
        self.state.pending_extension_reason = None
        message = f"Extension refused: {refusal.reason}"
        self._record(Actor.staff, EventKind.extension_refused, message, public=False, staff=refusal.staff)
        self._outbox.to_focal_point(EmailKind.extension_refused, reason=refusal.reason)
        return "Extension refused."

    # --- operators: an email sent again ------------------------------------------------------------

    @workflow.update(name=UPDATE_RESEND_EMAIL)
    async def resend_email(self, resend: ResendInput) -> ActionResult:
        """The current cycle's last email (or its last of ``kind``) again, to the same recipients with the same
        facts: a new message of its own in the send ledger, and a line on the staff timeline."""
        return await self._act(lambda: self._resend_refusal(resend), lambda: self._resend(resend))

    @resend_email.validator
    def _check_resend(self, resend: ResendInput) -> None:
        self._check(self._resend_refusal(resend))

    def _resend_refusal(self, resend: ResendInput) -> rules.Refusal | None:
        return rules.resend_refusal(self.state, resend.kind, self._outbox.current_cycle())

    def _resend(self, resend: ResendInput) -> str:
        emails = rules.emails_to_resend(self.state, resend.kind, self._outbox.current_cycle())
        what = emails[0].kind.value.replace("_", " ")
        who = " and ".join(email.recipient.role.value.replace("_", " ") for email in emails)
        queued = self._changes.taken(PATCH_QUEUED_UNTIL_SENT)
        message = f"Email {what} {'queued again for' if queued else 'sent again to'} the {who}."
        event = self._record(Actor.staff, EventKind.email_resent, message, public=False, staff=resend.staff)
        for email in emails:
            context = rules.resend_context(self.state, email)
            announced = event if queued else None
            self._outbox.send(email.kind, [email.recipient], thread=email.thread, announced=announced, **context)
        return message

    # --- 12. withdrawal, operator closure, and the end of the run ------------------------------

    @workflow.update(name=UPDATE_WITHDRAW)
    async def withdraw(self, withdrawal: WithdrawalInput) -> ActionResult:
        return await self._act(
            lambda: rules.not_accepted(self.state, Action.withdraw), lambda: self._withdraw(withdrawal)
        )

    @withdraw.validator
    def _check_withdrawal(self, withdrawal: WithdrawalInput) -> None:
        self._check(rules.not_accepted(self.state, Action.withdraw))

    def _withdraw(self, withdrawal: WithdrawalInput) -> str:
        reason = (withdrawal.reason or "").strip()
        message = f"Withdrawn by the pledger{': ' + reason if reason else '.'}"
        self._mark_closed(ClosureReason.withdrawn, Actor.pledger, message, reason or None)
        self._outbox.to_focal_point(EmailKind.withdrawn, reason=reason)
        return "The pledge is withdrawn."

    @workflow.update(name=UPDATE_CLOSE)
    async def close(self, closure: ClosureInput) -> ActionResult:
        return await self._act(lambda: rules.closure_refusal(self.state, closure), lambda: self._remove(closure))

    @close.validator
    def _check_closure(self, closure: ClosureInput) -> None:
        self._check(rules.closure_refusal(self.state, closure))

    def _remove(self, closure: ClosureInput) -> str:
        reason = closure.reason.strip()
        message = f"Closed by an operator: {reason}"
        self._mark_closed(ClosureReason.removed, Actor.staff, message, reason, staff=closure.staff)
        self._outbox.to_focal_point(EmailKind.closed, closure_reason=ClosureReason.removed.value, note=reason)
        return "The pledge is closed (removed)."

    @workflow.update(name=UPDATE_RENEW_LINKS)
    async def renew_links(self, renewal: LinksRenewalInput) -> ActionResult:
        """An operator revokes every link and reply address of the pledge (the registry's token version goes
        up), and the pledger is emailed a fresh manage link, rendered with the new version."""
        update_id = self._update_id()
        earlier = self._applied(update_id)
        if earlier is not None:
            return earlier
        await self._submission_settled()
        self._refuse_if(rules.not_accepted(self.state, Action.renew_links))
        await workflow.execute_activity(
            "revoke_tokens",
            self.state.pledge_id,
            start_to_close_timeout=REVOCATION_TIMEOUT,
            summary="revoke every earlier link of the pledge",
        )
        message = "Links renewed by an operator: earlier links and reply addresses no longer work."
        self._record(Actor.staff, EventKind.links_renewed, message, public=False, staff=renewal.staff)
        self._outbox.to_focal_point(EmailKind.links_renewed)
        await self._show_from_handler()
        result = self._result("Every earlier link is revoked; a new link was emailed to the focal point.")
        self._remember(update_id, result)
        return result

    @renew_links.validator
    def _check_links_renewal(self, renewal: LinksRenewalInput) -> None:
        self._check(rules.not_accepted(self.state, Action.renew_links))

    def _mark_closed(
        self, reason: ClosureReason, actor: Actor, message: str, note: str | None = None, staff: str | None = None
    ) -> None:
        self.state.status, self.state.closure_reason, self.state.closure_note = PledgeStatus.closed, reason, note
        self._record(actor, EventKind(reason.value), message, staff=staff)

    async def _close(self) -> PledgeState:
        await self._finish_handlers_and_emails()
        await self._update_views()
        return self.state

    # --- the timed steps: waiting for each, taking it ------------------------------------------

    async def _take_timed_steps(self, done: Callable[[], bool], waiting_for: str) -> None:
        """Take the stage's timed steps in order until ``done()``: a person acted or the pledge closed."""
        while not done():
            await self._continue_as_new_if_suggested()
            if self._views_wanted():
                await self._update_views()
                continue
            step = upcoming(self.state)

            def moved(step: Step | None = step) -> bool:
                # An extension moves the step; a handler may end the stage or ask for a projection; the server
                # may ask for a new run.
                return (
                    done()
                    or upcoming(self.state) != step
                    or self._views_wanted()
                    or workflow.info().is_continue_as_new_suggested()
                )

            if step is None:
                await workflow.wait_condition(moved)
                continue
            remaining = step.at - workflow.now()
            if remaining > dt.timedelta(0):
                try:
                    await workflow.wait_condition(
                        moved,
                        timeout=remaining,
                        timeout_summary=f"waiting for {waiting_for} until {format_utc(step.at)}, then {step.says}",
                    )
                    continue
                except TimeoutError:
                    if done():
                        return
            self.state.steps_done.append(step.name)
            if self._stale(step):
                skipped = f"{step.says.capitalize()} not sent: its time passed while the pledge waited for a worker."
                self._record(Actor.system, EventKind.email_skipped, skipped, public=False)
            else:
                self._take_step(step)
            await self._update_views()

    def _stale(self, reminder: Step) -> bool:
        """A reminder whose next step is due as well: the pledge is told by that one instead."""
        if reminder.name not in REMINDERS:
            return False
        after = upcoming(self.state)  # the reminder is already among the steps done
        return after is not None and after.at <= workflow.now() and self._changes.taken(PATCH_NO_STALE_REMINDERS)

    def _take_step(self, step: Step) -> None:
        actions: dict[StepName, Callable[[], None]] = {
            StepName.review_reminder: lambda: self._remind_reviewers(
                EmailKind.review_overdue, RecipientRole.vetting_team
            ),
            StepName.review_escalation: lambda: self._remind_reviewers(
                EmailKind.review_escalated, RecipientRole.vetting_lead
            ),
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
        """What the pledge waits for when no timed step is left (shown as its next step)."""
        if self._status_is(PledgeStatus.in_review):
            return "a vetting decision by staff (never automatic)"
        if self._status_is(PledgeStatus.published) and self.state.cycle == 0:
            published = self.state.published_at
            return f"publication (approved {format_utc(published)})" if published else None
        waiting = [kind.value.replace("_", " ") for kind, n in self.state.warnings_pending.items() if n > 0]
        if waiting and self.state.status in CYCLE_STATUSES:
            return f"delivery of the {waiting[0]} email, then its whole grace period"
        return None

    # --- the state's record: timeline, policy, what the world sees -----------------------------

    def _record(
        self, actor: Actor, kind: EventKind, message: str, public: bool | None = None, staff: str | None = None
    ) -> TimelineEvent:
        """Append one transition; before publication nothing is public, since the pledge is not."""
        event = TimelineEvent(
            # The state keeps the newest events only (workflows/projection.py): the next follows the last.
            seq=(self.state.timeline[-1].seq if self.state.timeline else 0) + 1,
            at=workflow.now(),
            actor=actor,
            staff=staff,
            kind=kind,
            message=message,
            status=self.state.status,
            public=self.state.published_at is not None if public is None else public,
        )
        self.state.timeline.append(event)
        return event

    async def _load_policy(self) -> None:
        loaded = await run_short_activity(
            self._changes,
            "load_policy",
            start_to_close_timeout=POLICY_TIMEOUT,
            result_type=LoadedPolicy,
            summary="read the reporting policy and staff addresses",
        )
        self.state.policy = loaded.policy
        self.state.staff = loaded.staff

    async def _update_views(self) -> None:
        """Make the state's plan, the Temporal UI and the registry agree with the state (main coroutine only,
        once a run went past PATCH_VIEWS_FROM_MAIN); it answers every handler that asked before it began."""
        asked = self._views_asked
        step = upcoming(self.state)
        self.state.next_deadline = step.at if step else None
        self.state.next_step = step.says if step else self._waiting_for_person()
        self._operator_view.refresh()
        await self._registry.project()
        self._views_shown = max(self._views_shown, asked)

    def _registry_refused(self, why: str) -> None:
        """The registry kept refusing the projection: staff see why (its first line: a database error goes on
        with the statement and its parameters)."""
        first_line = why.strip().splitlines()[0][:300] if why.strip() else "no reason given"
        told = f"Registry not updated: {first_line}. Trying again until it takes the pledge's changes."
        self._record(Actor.system, EventKind.registry_behind, told, public=False)

    async def _show_from_handler(self) -> None:
        """A handler's change reaches the views through the main coroutine, which is woken for it."""
        if not self._changes.taken(PATCH_VIEWS_FROM_MAIN):
            await self._update_views()
            return
        self._views_asked += 1
        wanted = self._views_asked
        await workflow.wait_condition(lambda: self._views_shown >= wanted)

    def _views_wanted(self) -> bool:
        return self._views_shown < self._views_asked

    async def _email_settled(
        self,
        what: str,
        outcome: EmailOutcome | None,
        error: ActivityError | None,
        warned: bool,
        announced: TimelineEvent | None,
    ) -> None:
        if error is not None:
            self._record(Actor.system, EventKind.email_failed, f"Email {what} failed: {error.cause}.", public=False)
            await self._show_from_handler()
            return
        assert outcome is not None
        self.state.last_email = f"{what} ({outcome.state})"
        if outcome.state == Delivery.skipped:
            not_sent = f"Email {what} not sent: {outcome.detail}."
            self._record(Actor.system, EventKind.email_skipped, not_sent, public=False)
            await self._show_from_handler()
        elif announced is not None:  # the timeline said it was queued (PATCH_QUEUED_UNTIL_SENT)
            self._record_sent(what, outcome, announced)
            self._operator_view.show_email()
            await self._show_from_handler()
        elif not outcome.confirmed and self._changes.taken(PATCH_UNCONFIRMED_SHOWN):
            self._record_unconfirmed(what, outcome)
            self._operator_view.show_email()
            await self._show_from_handler()
        elif warned:
            await self._show_from_handler()  # the consequence it waited for is on the plan now
        elif self._changes.taken(PATCH_MAIL_SHOWN):
            self._operator_view.show_email()
        else:
            self._operator_view.refresh()

    def _record_sent(self, what: str, outcome: EmailOutcome, announced: TimelineEvent) -> None:
        """The server took a message the timeline said was queued: the reader of that line sees it went. One
        handed over with no answer from the server is said so, to staff only."""
        if outcome.confirmed:
            self._record(Actor.system, EventKind.email_sent, f"Email {what} sent.", public=announced.public)
        else:
            self._record_unconfirmed(what, outcome)

    def _record_unconfirmed(self, what: str, outcome: EmailOutcome) -> None:
        unconfirmed = f"Email {what} handed to the mail server, not confirmed: {outcome.detail}."
        self._record(Actor.system, EventKind.email_unconfirmed, unconfirmed, public=False)

    # --- continuing as new ---------------------------------------------------------------------

    async def _finish_handlers_and_emails(self) -> None:
        """Let every email and update or signal handler of this run finish, projecting what they ask for."""
        while True:
            await workflow.wait_condition(
                lambda: self._views_wanted() or (self._outbox.all_sent() and workflow.all_handlers_finished())
            )
            if not self._views_wanted():
                break
            await self._update_views()
        self._outbox.raise_unexpected()

    async def _continue_as_new_if_suggested(self) -> None:
        if workflow.info().is_continue_as_new_suggested():
            await self._continue_as_new()

    async def _continue_as_new(self) -> NoReturn:
        await self._finish_handlers_and_emails()
        if self._changes.taken(PATCH_CARRY_WHAT_IS_NEEDED):
            self._registry.forget_what_the_registry_has()
            self._forget_update_ids_past_retrying()
        workflow.continue_as_new(
            StartInput(pledge_id=self.state.pledge_id, email_task_queue=self.state.email_task_queue, state=self.state)
        )

    # --- answers to people ---------------------------------------------------------------------

    async def _act(self, refusal: Callable[[], rules.Refusal | None], act: Callable[[], str]) -> ActionResult:
        """One person's action, applied once. It waits for the submission stage, then checks again what its
        validator checked: another action (or a timed step) may have moved the pledge meanwhile, and both
        validators of two exclusive actions can pass in one activation. ``act`` changes the state without
        awaiting, so nothing slips in between the check and the change."""
        update_id = self._update_id()
        earlier = self._applied(update_id)
        if earlier is not None and self._changes.taken(PATCH_UPDATE_IDS):
            return earlier
        await self._submission_settled()
        again = refusal()
        if again is not None and self._changes.taken(PATCH_EXCLUSIVE):
            self._refuse_if(again)
        message = act()
        await self._show_from_handler()
        result = self._result(message)
        self._remember(update_id, result)
        return result

    def _check(self, refusal: rules.Refusal | None) -> None:
        """An update's validator: a retry of an action already applied passes (its handler answers as the
        first time did); an Idempotency-Key reused with another body, or what the rules refuse, is refused."""
        update_id = self._update_id()
        if self._applied(update_id) is None:
            self._refuse_if(rules.key_reuse_refusal(self.state, update_id) or refusal)

    @staticmethod
    def _update_id() -> str:
        info = workflow.current_update_info()
        assert info is not None, "called from an update's validator or handler"
        return info.id

    def _applied(self, update_id: str) -> ActionResult | None:
        return next((applied.result for applied in self.state.applied_updates if applied.id == update_id), None)

    def _remember(self, update_id: str, result: ActionResult) -> None:
        kept = [*self.state.applied_updates, AppliedUpdate(id=update_id, result=result, at=workflow.now())]
        self.state.applied_updates = kept[-KEPT_UPDATE_IDS:]

    def _forget_update_ids_past_retrying(self) -> None:
        """Ids applied longer than UPDATE_RETRY_WINDOW ago stay behind; one kept without its time (a run from
        before the field) goes on until KEPT_UPDATE_IDS newer ones push it out."""
        since = workflow.now() - UPDATE_RETRY_WINDOW
        kept = [applied for applied in self.state.applied_updates if applied.at is None or applied.at >= since]
        self.state.applied_updates = kept

    def _result(self, message: str) -> ActionResult:
        return ActionResult(
            status=self.state.status,
            message=message,
            submission_version=self.state.submission_version,
            next_deadline=self.state.next_deadline,
        )

    def _refuse_if(self, refusal: rules.Refusal | None) -> None:
        """A validator's refusal: nothing reaches history, and the client maps the type to a status code."""
        if refusal is not None:
            raise ApplicationError(refusal.message, self.state.status.value, type=refusal.kind)

    def _status_is(self, *statuses: PledgeStatus) -> bool:
        return self.state.status in statuses


def _roles(recipients: list[Recipient]) -> str:
    """The recipients' roles in words: "focal point and backup contact"."""
    return " and ".join(recipient.role.value.replace("_", " ") for recipient in recipients)
