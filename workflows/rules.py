"""The lifecycle's rules as pure functions of the state: who may act now, what a report settles, who is written to.

The workflow (workflows/pledge.py) asks these and applies the answer; the update validators turn a
:class:`Refusal` into the ``ApplicationError`` the clients map to a status code. Nothing here waits,
writes or reads the clock: the caller passes ``now``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workflows.emails import EmailKind, Recipient, RecipientRole
from workflows.ladder import effective_due, report_deadline, step_at
from workflows.state import (
    ACCEPTED_IN,
    CYCLE_STATUSES,
    OPEN_STATUSES,
    REFUSED_FORBIDDEN,
    REFUSED_INVALID,
    REFUSED_NOT_ALLOWED,
    REFUSED_STALE,
    Action,
    ClosureInput,
    CycleEmail,
    Decision,
    DecisionInput,
    ExtensionGrantInput,
    PledgeState,
    PledgeStatus,
    ReportInput,
    RevisionInput,
    StepName,
    StopRemindersInput,
)
from workflows.submission import Progress, ProgressReport

# Statuses a report brings a pledge back from: the report reinstates it.
REINSTATING = frozenset({PledgeStatus.report_overdue, PledgeStatus.non_reporting})

# How a refusal names the action: "cannot <verb> a pledge that is closed".
_VERBS = {
    Action.decide: "take a vetting decision on",
    Action.revise: "revise",
    Action.report: "report on",
    Action.request_extension: "ask for an extension on",
    Action.grant_extension: "extend",
    Action.refuse_extension: "refuse an extension on",
    Action.withdraw: "withdraw",
    Action.close: "close",
    Action.renew_links: "renew the links of",
}


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused: ``kind`` is one of the ``REFUSED_*`` error types of workflows/state.py."""

    kind: str
    message: str


# --- who may act now ------------------------------------------------------------------------------


def not_accepted(state: PledgeState, action: Action) -> Refusal | None:
    if state.status in ACCEPTED_IN[action]:
        return None
    return Refusal(REFUSED_NOT_ALLOWED, f"cannot {_VERBS[action]} a pledge that is {state.status.value}")


def decision_refusal(state: PledgeState, decision: DecisionInput) -> Refusal | None:
    if refusal := not_accepted(state, Action.decide):
        return refusal
    if decision.decision != Decision.approve and not (decision.note or "").strip():
        return Refusal(REFUSED_INVALID, f"a note is required to {decision.decision.value.replace('_', ' ')}")
    if decision.decision == Decision.approve and decision.staff in state.approvals:
        return Refusal(
            REFUSED_FORBIDDEN, f"{decision.staff} already approved; the second approval must be another person's"
        )
    return None


def revision_refusal(state: PledgeState, revision: RevisionInput) -> Refusal | None:
    if refusal := not_accepted(state, Action.revise):
        return refusal
    expected = revision.expected_version
    if expected is not None and expected != state.submission_version:
        return Refusal(REFUSED_STALE, f"version {expected} is stale; the current version is {state.submission_version}")
    return None


def report_refusal(state: PledgeState, report: ReportInput) -> Refusal | None:
    if refusal := not_accepted(state, Action.report):
        return refusal
    if report.cycle is not None and not 1 <= report.cycle <= state.cycle:
        return Refusal(REFUSED_INVALID, f"cycle {report.cycle} does not exist; the current cycle is {state.cycle}")
    return None


def extension_grant_refusal(state: PledgeState, grant: ExtensionGrantInput) -> Refusal | None:
    if refusal := not_accepted(state, Action.grant_extension):
        return refusal
    assert state.policy is not None
    allowed = state.policy.max_extension - dt.timedelta(days=state.extension_days)
    if dt.timedelta(days=grant.days) > allowed:
        return Refusal(
            REFUSED_INVALID,
            f"{grant.days} days is over the maximum: this cycle may be extended by {allowed.days} more days",
        )
    return None


def extension_refusal_refusal(state: PledgeState) -> Refusal | None:
    if refusal := not_accepted(state, Action.refuse_extension):
        return refusal
    if state.pending_extension_reason is None:
        return Refusal(REFUSED_NOT_ALLOWED, "no extension request is waiting for a decision")
    return None


def closure_refusal(state: PledgeState, closure: ClosureInput) -> Refusal | None:
    if refusal := not_accepted(state, Action.close):
        return refusal
    if not closure.reason.strip():
        return Refusal(REFUSED_INVALID, "a reason is required to close a pledge")
    return None


def emails_to_resend(state: PledgeState, kind: EmailKind | None, cycle: int) -> list[CycleEmail]:
    """The emails of ``cycle`` an operator's resend sends again: every recipient's last of ``kind``, or of the
    kind asked for last."""
    mine = [email for email in state.cycle_emails if email.cycle == cycle]
    wanted = kind or (mine[-1].kind if mine else None)
    return [email for email in mine if email.kind == wanted]


def resend_context(state: PledgeState, email: CycleEmail) -> dict[str, Any]:
    """An email's facts for sending it again now, with the date it names moved to where the ladder has it now:
    a step taken since (overdue, say) or an extension moves it, and a resent request must not name a past date."""
    context = dict(email.context)
    if email.kind in (EmailKind.changes_requested, EmailKind.revision_reminder):
        moved = {"deadline": step_at(state, StepName.abandon)}
    else:
        moved = {"deadline": report_deadline(state), "delisting_date": report_deadline(state)}
    context.update({key: at for key, at in moved.items() if key in context and at is not None})
    return context


def resend_refusal(state: PledgeState, kind: EmailKind | None, cycle: int) -> Refusal | None:
    if state.status not in OPEN_STATUSES:
        return Refusal(REFUSED_NOT_ALLOWED, f"cannot resend an email of a pledge that is {state.status.value}")
    if not emails_to_resend(state, kind, cycle):
        what = f"no {kind.value} email" if kind else "no email"
        return Refusal(REFUSED_NOT_ALLOWED, f"{what} was sent in the current cycle; there is nothing to send again")
    return None


def stop_reminders_refusal(state: PledgeState, stop: StopRemindersInput) -> Refusal | None:
    """Reminders are sent in a reporting cycle, to the pledge's contacts: only they can stop them, only then."""
    if state.status not in CYCLE_STATUSES:
        return Refusal(REFUSED_NOT_ALLOWED, f"cannot stop reminders on a pledge that is {state.status.value}")
    if contact_at(state, stop.recipient) is None:
        return Refusal(REFUSED_INVALID, "this address is not a contact of the pledge")
    return None


def key_reuse_refusal(state: PledgeState, update_id: str) -> Refusal | None:
    """An update id is ``<key>.<body fingerprint>`` when a client sent an Idempotency-Key
    (pledgeflow.auth.idempotency): the same key with another body is a mistake, never a retry."""
    key, dot, _ = update_id.partition(".")
    if not dot:
        return None
    for applied in state.applied_updates:
        if applied.id.partition(".")[0] == key and applied.id != update_id:
            return Refusal(REFUSED_INVALID, "this Idempotency-Key was used before with another body")
    return None


def approvals_needed(state: PledgeState) -> int:
    """Pledges above the policy's amount need two approvals by two different staff members."""
    assert state.policy is not None
    return 2 if state.submission.resources.financial_usd > state.policy.two_approvals_above_usd else 1


# --- what a report settles ------------------------------------------------------------------------


class ReportEffect(StrEnum):
    addition = "addition"  # the cycle's report is in (or an earlier cycle's): this adds to it
    progress_update = "progress_update"  # before the early window of a published pledge: due date stands
    discontinued = "discontinued"  # progress "discontinued": the pledge closes as withdrawn
    final = "final"  # the final cycle's report: the pledge closes as completed or ended
    settles_cycle = "settles_cycle"  # the cycle's report: the pledge is (back to) published


def report_effect(state: PledgeState, report: ProgressReport, cycle: int, now: dt.datetime) -> ReportEffect:
    """What a report for ``cycle`` received at ``now`` settles."""
    if cycle < state.cycle or state.cycle_reported:
        return ReportEffect.addition
    assert state.policy is not None
    early = now >= effective_due(state) - state.policy.early_report_window
    counts = state.status != PledgeStatus.published or early
    if not counts and report.progress != Progress.discontinued:
        return ReportEffect.progress_update
    if report.progress == Progress.discontinued:
        return ReportEffect.discontinued
    return ReportEffect.final if state.final_cycle else ReportEffect.settles_cycle


def was_requested(state: PledgeState) -> bool:
    """The current cycle's report request went out (so a receipt threads to it)."""
    return StepName.request in state.steps_done


def request_kind(state: PledgeState) -> EmailKind:
    return EmailKind.final_report_request if state.final_cycle else EmailKind.report_request


def open_cycle(state: PledgeState, cycle: int, anniversary: dt.datetime, now: dt.datetime) -> None:
    """Open ``cycle``: due on its anniversary, or on the end date if that comes first (the final cycle)."""
    end = end_at(state)
    final = end is not None and end <= anniversary
    state.cycle, state.final_cycle = cycle, final
    state.cycle_due_at = max(end, now) if final and end else anniversary
    state.cycle_reported, state.extension_days = False, 0
    state.steps_done, state.pending_extension_reason = [], None
    state.warnings_pending, state.warnings_settled_at = {}, {}


def end_at(state: PledgeState) -> dt.datetime | None:
    """The pledge's end date as the moment its final cycle is due."""
    end = state.submission.end_date
    return dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC) if end else None


# --- who is written to ----------------------------------------------------------------------------


def focal_point(state: PledgeState) -> Recipient:
    focal = state.submission.focal_point
    return Recipient(email=focal.email, name=focal.name, role=RecipientRole.focal_point)


def contacts(state: PledgeState) -> list[Recipient]:
    """The focal point and, if the pledge has one, the backup contact."""
    backup = state.submission.backup_contact
    extra = [Recipient(email=backup.email, name=backup.name, role=RecipientRole.backup_contact)] if backup else []
    return [focal_point(state), *extra]


def contact_at(state: PledgeState, address: str) -> Recipient | None:
    """The contact whose address this is (case does not matter in addresses)."""
    wanted = address.strip().lower()
    return next((contact for contact in contacts(state) if contact.email.lower() == wanted), None)


def unsubscribed(state: PledgeState, recipients: list[Recipient]) -> list[Recipient]:
    """Those of ``recipients`` who stopped reminders by one-click unsubscribe."""
    stopped = set(state.reminders_stopped)
    return [recipient for recipient in recipients if recipient.email.lower() in stopped]


def staff(state: PledgeState, role: RecipientRole) -> Recipient:
    assert state.staff is not None, "staff addresses are loaded with the policy"
    address: str = getattr(state.staff, role.value)
    return Recipient(email=address, name=role.value.replace("_", " ").capitalize(), role=role)
