"""Emails going out in the background: the workflow asks for a message and goes on; the run waits for them
all before it continues as new or ends. A pledge's emails leave one after another, in the order asked for.

Each message is one ``send_email`` activity on the email task queue (rate-limited by the server), keyed by
its business key so the send ledger sends it at most once. What became of it is reported back to the
workflow (``on_settled``), which records a skipped or failed message on the timeline, and a sent one whose
sending the timeline announced (``announced``: "Reminder 1 queued for the focal point.").
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows.changes import Changes
    from workflows.emails import ALWAYS, EmailKind, EmailOutcome, EmailRequest, Recipient, RecipientRole
    from workflows.rules import focal_point
    from workflows.state import CycleEmail, PledgeState, TimelineEvent

EMAIL_TIMEOUT = dt.timedelta(minutes=2)
# Issue 14: one recipient's emails leave in the order the workflow asked for them. Each went out on its
# own, so after an SMTP outage a reminder could arrive before the report request it reminds of.
PATCH_MAIL_IN_ORDER = "14-mail-in-order"
# Issue 14: all of a pledge's emails leave in the order the workflow asked for them, whoever they go to. In
# order per address, reminder 2 to the backup contact still reached the server before the report request
# to the focal point, stalled, that it reminds of; so could the secretariat's copy of a final notice.
PATCH_ONE_MAIL_QUEUE = "14-one-mail-queue"
CONTACTS = (RecipientRole.focal_point, RecipientRole.backup_contact)

# ``on_settled(what, outcome, error, warned, announced)``: exactly one of outcome and error is set; ``warned``
# says the warning mail a consequence waited for has settled (see ``await_warning``); ``announced`` is the
# timeline event that said the email was queued, if one did.
OnSettled = Callable[[str, EmailOutcome | None, ActivityError | None, bool, TimelineEvent | None], Awaitable[None]]


class Outbox:
    def __init__(self, state: PledgeState, on_settled: OnSettled, changes: Changes) -> None:
        self._state = state
        self._changes = changes
        self._on_settled = on_settled
        self._sending: list[asyncio.Task[None]] = []
        self._last_to: dict[str, asyncio.Task[None]] = {}  # by address: the newest email asked for
        self._last: asyncio.Task[None] | None = None  # the newest email asked for, to anyone

    def send(
        self,
        kind: EmailKind,
        recipients: list[Recipient],
        *,
        thread: EmailKind | None = None,
        announced: TimelineEvent | None = None,
        **context: Any,
    ) -> None:
        """Send ``kind`` to each recipient in the background, with the facts its template needs; ``announced``
        is the timeline event that says it is queued, to be followed by one when the server accepted it."""
        state = self._state
        submission = state.submission
        values = {"title": submission.title, "organization": submission.organization.name, **context}
        for key, value in values.items():
            if isinstance(value, dt.datetime | dt.date):
                values[key] = value.isoformat()
        # A reporting email belongs to the cycle it names. Before publication an email's cycle is the
        # revision round, so each round's "changes requested" has its own business key in the send ledger.
        number = int(context["cycle"]) if "cycle" in context else self._email_cycle()
        one_queue = self._changes.taken(PATCH_ONE_MAIL_QUEUE)
        for recipient in recipients:
            # A second message of one kind in one cycle (two extensions granted) is new, not a retry: it
            # gets a business key of its own, so the send ledger does not drop it as already sent.
            asked = f"{number}/{kind.value}/{recipient.email.lower()}"
            state.emails_asked[asked] = state.emails_asked.get(asked, 0) + 1
            request = EmailRequest(
                pledge_id=state.pledge_id,
                cycle=number,
                kind=kind,
                recipient=recipient,
                context=values,
                thread_kind=thread,
                occurrence=state.emails_asked[asked],
                language=submission.language.value,
            )
            address = recipient.email.lower()
            after = self._last if one_queue else self._last_to.get(address)
            sending = asyncio.create_task(self._deliver(request, after, one_queue, announced))
            self._last_to[address], self._last = sending, sending
            self._sending.append(sending)
            self._remember(request)

    def to_focal_point(
        self,
        kind: EmailKind,
        *,
        thread: EmailKind | None = None,
        announced: TimelineEvent | None = None,
        **context: Any,
    ) -> None:
        """Most messages go to the pledge's focal point alone."""
        self.send(kind, [focal_point(self._state)], thread=thread, announced=announced, **context)

    def forget_other_cycles(self, cycle: int) -> None:
        """Only this cycle's counts matter for the next email's business key; the rest would only grow."""
        state = self._state
        state.emails_asked = {key: n for key, n in state.emails_asked.items() if key.startswith(f"{cycle}/")}
        state.cycle_emails = [email for email in state.cycle_emails if email.cycle == cycle]

    def await_warning(self, kind: EmailKind, contacts: int) -> None:
        """The ladder's next consequence waits until this cycle's ``kind`` to ``contacts`` contacts settled."""
        self._state.warnings_pending = {**self._state.warnings_pending, kind: contacts}

    def current_cycle(self) -> int:
        """The cycle number the next email is keyed by (docs/email.md §3)."""
        return self._email_cycle()

    def all_sent(self) -> bool:
        return all(task.done() for task in self._sending)

    def raise_unexpected(self) -> None:
        """Once all are done: an unexpected error fails the workflow task, visibly, instead of vanishing."""
        for task in self._sending:
            task.result()
        self._sending.clear()

    def _remember(self, request: EmailRequest) -> None:
        """Keep the last email of each kind to each recipient of this cycle, newest last, for a resend."""
        email = CycleEmail(
            cycle=request.cycle,
            kind=request.kind,
            recipient=request.recipient,
            thread=request.thread_kind,
            context={key: value for key, value in request.context.items() if key not in ALWAYS},
        )
        same = (email.cycle, email.kind, email.recipient.email)
        kept = [e for e in self._state.cycle_emails if (e.cycle, e.kind, e.recipient.email) != same]
        self._state.cycle_emails = [*kept, email]

    def _email_cycle(self) -> int:
        state = self._state
        return state.cycle if state.published_at else state.submission_version - 1

    async def _deliver(
        self,
        request: EmailRequest,
        after: asyncio.Task[None] | None,
        one_queue: bool,
        announced: TimelineEvent | None,
    ) -> None:
        """Send once the email asked for before it has settled (sent, skipped, failed): the pledge's previous
        email (``one_queue``), or in runs from before that patch the previous one to the same address."""
        if after is not None and not after.done() and (one_queue or self._changes.taken(PATCH_MAIL_IN_ORDER)):
            await asyncio.wait([after])
        what = f"{request.kind.value.replace('_', ' ')} to {request.recipient.role.replace('_', ' ')}"
        try:
            outcome = await workflow.execute_activity(
                "send_email",
                request,
                task_queue=self._state.email_task_queue,
                start_to_close_timeout=EMAIL_TIMEOUT,
                result_type=EmailOutcome,
                summary=what,
            )
        except ActivityError as err:
            # The email activity retries what can succeed; what reaches here (an SMTP 5xx) needs an operator.
            workflow.logger.error("pledge %s: email %s failed: %s", self._state.pledge_id, what, err.cause)
            await self._on_settled(what, None, err, self._warning_settled(request), announced)
            return
        await self._on_settled(what, outcome, None, self._warning_settled(request), announced)

    def _warning_settled(self, request: EmailRequest) -> bool:
        """Count a settled warning mail; True when it was the last one its consequence waited for."""
        state = self._state
        pending = state.warnings_pending.get(request.kind, 0)
        if not pending or request.cycle != state.cycle or request.recipient.role not in CONTACTS:
            return False
        state.warnings_pending = {**state.warnings_pending, request.kind: pending - 1}
        if pending > 1:
            return False
        state.warnings_settled_at = {**state.warnings_settled_at, request.kind: workflow.now()}
        return True
