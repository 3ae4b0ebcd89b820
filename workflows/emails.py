"""What the workflow asks the email activity to send: a kind, one recipient, a business key."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel


class EmailKind(StrEnum):
    submission_received = "submission_received"
    review_requested = "review_requested"
    review_overdue = "review_overdue"
    review_escalated = "review_escalated"
    changes_requested = "changes_requested"
    revision_reminder = "revision_reminder"
    rejected = "rejected"
    abandoned = "abandoned"
    published = "published"
    report_request = "report_request"
    reminder_1 = "reminder_1"
    reminder_2 = "reminder_2"
    final_notice = "final_notice"
    non_reporting = "non_reporting"
    report_received = "report_received"
    extension_granted = "extension_granted"
    extension_refused = "extension_refused"
    delisted = "delisted"
    final_report_request = "final_report_request"
    closed = "closed"
    withdrawn = "withdrawn"
    reminders_stopped = "reminders_stopped"
    links_renewed = "links_renewed"


# What the workflow puts in EmailRequest.context for each kind, beyond the keys every message gets
# from the workflow ("title", "organization"). The email activity adds pledge_id, recipient_name,
# registry_name, subject and the links (pledge_url, manage_url, and report_url / reply_to where a
# report is asked for). Dates and times are ISO 8601 strings. send_email refuses a request missing any.
ALWAYS: frozenset[str] = frozenset({"title", "organization"})
CONTEXT: dict[EmailKind, frozenset[str]] = {
    EmailKind.submission_received: frozenset({"review_days"}),
    EmailKind.review_requested: frozenset({"submitted_at", "financial_usd", "approvals_needed"}),
    EmailKind.review_overdue: frozenset({"submitted_at", "waiting_days"}),
    EmailKind.review_escalated: frozenset({"submitted_at", "waiting_days"}),
    EmailKind.changes_requested: frozenset({"note", "deadline"}),
    EmailKind.revision_reminder: frozenset({"note", "deadline"}),
    EmailKind.rejected: frozenset({"note"}),
    EmailKind.abandoned: frozenset(),
    EmailKind.published: frozenset({"first_report_due"}),
    EmailKind.report_request: frozenset({"cycle", "deadline"}),
    EmailKind.reminder_1: frozenset({"cycle", "deadline"}),
    EmailKind.reminder_2: frozenset({"cycle", "deadline"}),
    EmailKind.final_notice: frozenset({"cycle", "deadline"}),  # deadline: when it turns non_reporting
    EmailKind.non_reporting: frozenset({"cycle", "delisting_date"}),
    # reply_text: what was taken as the report when it came by email (the cleaned text), None otherwise.
    EmailKind.report_received: frozenset({"cycle", "progress", "reinstated", "reply_text"}),
    EmailKind.extension_granted: frozenset({"days", "reason", "deadline"}),
    EmailKind.extension_refused: frozenset({"reason"}),
    EmailKind.delisted: frozenset(),
    EmailKind.final_report_request: frozenset({"cycle", "deadline", "end_date"}),
    EmailKind.closed: frozenset({"closure_reason", "note"}),
    EmailKind.withdrawn: frozenset({"reason"}),
    EmailKind.reminders_stopped: frozenset({"contact_role", "contact_name", "contact_email"}),
    EmailKind.links_renewed: frozenset(),
}
# Keys a kind gained while workflows were already asking for it: a request asked for before carries none
# and means this value, so a send retried across the deploy still goes out.
ADDED_LATER: dict[EmailKind, dict[str, Any]] = {EmailKind.report_received: {"reply_text": None}}
# Kinds that ask for a report: they carry a signed report link and Reply-To: reply+TOKEN@.
REPORT_ASKING: frozenset[EmailKind] = frozenset(
    {
        EmailKind.report_request,
        EmailKind.reminder_1,
        EmailKind.reminder_2,
        EmailKind.final_notice,
        EmailKind.non_reporting,
        EmailKind.final_report_request,
    }
)
# Reminders: they chase a report already asked for, so a contact may stop them (RFC 8058 one-click
# List-Unsubscribe) and the pledge goes on. The request itself, the non-reporting notice and the final
# report request are not reminders: they say what the pledge owes or has become, and keep coming.
REMINDERS: frozenset[EmailKind] = frozenset({EmailKind.reminder_1, EmailKind.reminder_2, EmailKind.final_notice})
# Reminders are threaded (In-Reply-To / References) to the request of their cycle.
THREADED: frozenset[EmailKind] = frozenset(
    {
        EmailKind.reminder_1,
        EmailKind.reminder_2,
        EmailKind.final_notice,
        EmailKind.non_reporting,
        EmailKind.report_received,
    }
)


class RecipientRole(StrEnum):
    focal_point = "focal_point"
    backup_contact = "backup_contact"
    vetting_team = "vetting_team"
    vetting_lead = "vetting_lead"
    secretariat = "secretariat"


class Recipient(BaseModel):
    email: str
    name: str
    role: RecipientRole


class EmailRequest(BaseModel):
    """One message to one recipient. (pledge_id, cycle, kind, recipient) is its business key."""

    pledge_id: str
    cycle: int
    kind: EmailKind
    recipient: Recipient
    context: dict[str, Any] = {}
    thread_kind: EmailKind | None = None  # reply to this kind's message of the same cycle and recipient
    occurrence: int = 1  # the 2nd extension granted in a cycle is a message of its own, not a resend
    language: str = "en"  # the pledger's (Submission.language); requests recorded before it read in English

    @property
    def business_key(self) -> str:
        key = f"{self.pledge_id}/{self.cycle}/{self.kind.value}/{self.recipient.email.lower()}"
        return key if self.occurrence == 1 else f"{key}/{self.occurrence}"


class Delivery(StrEnum):
    sent = "sent"  # the SMTP server accepted it (now or on an earlier attempt)
    skipped = "skipped"  # not sent, on purpose: the recipient is do-not-email


# The start of an outcome's detail when the server was handed the message but its answer never came.
UNCONFIRMED = "unconfirmed"


class EmailOutcome(BaseModel):
    """What became of one EmailRequest; an SMTP refusal for good fails the activity instead."""

    state: Delivery
    message_id: str
    detail: str = ""

    @property
    def confirmed(self) -> bool:
        """The server said it accepted the message (to this attempt or an earlier one)."""
        return self.state == Delivery.sent and not self.detail.startswith(UNCONFIRMED)
