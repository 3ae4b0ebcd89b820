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


class Recipient(BaseModel):
    email: str
    name: str
    role: str  # focal_point | backup_contact | vetting_team | vetting_lead | secretariat


class EmailRequest(BaseModel):
    """One message to one recipient. (pledge_id, cycle, kind, recipient) is its business key."""

    pledge_id: str
    cycle: int
    kind: EmailKind
    recipient: Recipient
    context: dict[str, Any] = {}
    thread_kind: EmailKind | None = None  # reply to this kind's message of the same cycle and recipient

    @property
    def business_key(self) -> str:
        return f"{self.pledge_id}/{self.cycle}/{self.kind.value}/{self.recipient.email.lower()}"


class EmailOutcome(BaseModel):
    state: str  # sent | skipped | failed
    message_id: str
    detail: str = ""
