"""The one state object a pledge workflow holds, and the messages that move it.

The query returns :class:`PledgeState`, continue-as-new carries it, the registry projects it.
Update and signal names are constants here so the API and the workflow cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from workflows.emails import EmailKind, Recipient
from workflows.policy import Policy, StaffContacts
from workflows.submission import ProgressReport, Submission, unstorable

WORKFLOW_TYPE = "PledgeWorkflow"
QUERY_STATE = "state"
UPDATE_DECIDE = "decide"
UPDATE_REVISE = "revise"
UPDATE_REPORT = "submit_report"
UPDATE_REQUEST_EXTENSION = "request_extension"
UPDATE_GRANT_EXTENSION = "grant_extension"
UPDATE_REFUSE_EXTENSION = "refuse_extension"
UPDATE_WITHDRAW = "withdraw"
UPDATE_CLOSE = "close"
UPDATE_RESEND_EMAIL = "resend_email"
UPDATE_STOP_REMINDERS = "stop_reminders"
UPDATE_RENEW_LINKS = "renew_links"
SIGNAL_EMAIL_REPLY = "email_reply"

# ApplicationError types an update validator raises; the API maps each to one status code.
# The error's first detail is the pledge's current status (for the 409 body).
REFUSED_NOT_ALLOWED = "NotAllowedNow"  # 409: action not allowed in the current status
REFUSED_STALE = "StaleVersion"  # 412: If-Match names an older submission version
REFUSED_INVALID = "InvalidAction"  # 422: e.g. a rejection without a note, an extension over the maximum
REFUSED_FORBIDDEN = "ForbiddenAction"  # 403: e.g. a second approval by the same staff member


def workflow_id(pledge_id: str) -> str:
    return f"pledge-{pledge_id}"


class PledgeStatus(StrEnum):
    in_review = "in_review"
    changes_requested = "changes_requested"
    published = "published"
    report_due = "report_due"
    report_overdue = "report_overdue"
    non_reporting = "non_reporting"
    closed = "closed"


OPEN_STATUSES = frozenset(PledgeStatus) - {PledgeStatus.closed}
# Statuses of a published pledge in a reporting cycle: reports and extensions apply here.
CYCLE_STATUSES = frozenset(
    {PledgeStatus.published, PledgeStatus.report_due, PledgeStatus.report_overdue, PledgeStatus.non_reporting}
)


class ClosureReason(StrEnum):
    rejected = "rejected"
    abandoned = "abandoned"
    withdrawn = "withdrawn"
    completed = "completed"
    ended = "ended"
    delisted = "delisted"
    removed = "removed"


class Action(StrEnum):
    """What a person can do to a pledge; each is one update of its workflow."""

    decide = "decide"
    revise = "revise"
    report = "report"
    request_extension = "request_extension"
    grant_extension = "grant_extension"
    refuse_extension = "refuse_extension"
    withdraw = "withdraw"
    close = "close"
    renew_links = "renew_links"


# Which statuses accept which action: the workflow's validators refuse the rest with 409, and the state
# says what is allowed now (``PledgeState.allowed_actions``) so pages offer only that.
ACCEPTED_IN: dict[Action, frozenset[PledgeStatus]] = {
    Action.decide: frozenset({PledgeStatus.in_review}),
    Action.revise: frozenset({PledgeStatus.changes_requested}),
    Action.report: CYCLE_STATUSES,
    Action.request_extension: CYCLE_STATUSES,
    Action.grant_extension: CYCLE_STATUSES,
    Action.refuse_extension: CYCLE_STATUSES,
    Action.withdraw: OPEN_STATUSES,
    Action.close: OPEN_STATUSES,
    Action.renew_links: OPEN_STATUSES,
}


class StepName(StrEnum):
    """The timed steps of the ladder (workflows/ladder.py); ``PledgeState.steps_done`` lists the taken ones."""

    review_reminder = "review_reminder"
    review_escalation = "review_escalation"
    revision_reminder = "revision_reminder"
    abandon = "abandon"
    request = "request"
    reminder_1 = "reminder_1"
    reminder_2 = "reminder_2"
    overdue = "overdue"
    non_reporting = "non_reporting"
    delist = "delist"
    final_report_missing = "final_report_missing"
    next_cycle = "next_cycle"  # the gap between a cycle's report and the start of the next cycle


class Actor(StrEnum):
    """Who made a transition happen."""

    system = "system"  # the ladder's clock
    pledger = "pledger"  # through a form, the API or a manage link
    staff = "staff"  # a named staff member (``TimelineEvent.staff``)
    email = "email"  # a reply by email


class EventKind(StrEnum):
    """What a timeline entry records. A closure is recorded under its reason (``rejected``, ``delisted``...)."""

    submitted = "submitted"
    review_overdue = "review_overdue"
    review_escalated = "review_escalated"
    approval_recorded = "approval_recorded"
    approved = "approved"
    changes_requested = "changes_requested"
    revision_reminder = "revision_reminder"
    revised = "revised"
    published = "published"
    cycles_missed = "cycles_missed"
    report_requested = "report_requested"
    final_report_requested = "final_report_requested"
    reminder_sent = "reminder_sent"
    report_overdue = "report_overdue"
    non_reporting = "non_reporting"
    report_received = "report_received"
    final_report_received = "final_report_received"
    report_added = "report_added"
    progress_update = "progress_update"
    reply_not_counted = "reply_not_counted"
    extension_requested = "extension_requested"
    extension_granted = "extension_granted"
    extension_refused = "extension_refused"
    reminders_stopped = "reminders_stopped"
    email_sent = "email_sent"
    email_unconfirmed = "email_unconfirmed"
    email_skipped = "email_skipped"
    email_failed = "email_failed"
    email_resent = "email_resent"
    registry_behind = "registry_behind"
    imported = "imported"
    links_renewed = "links_renewed"
    rejected = ClosureReason.rejected.value
    abandoned = ClosureReason.abandoned.value
    withdrawn = ClosureReason.withdrawn.value
    completed = ClosureReason.completed.value
    ended = ClosureReason.ended.value
    delisted = ClosureReason.delisted.value
    removed = ClosureReason.removed.value


ReportSource = Literal["form", "email", "api", "import"]


def _in_utc(value: dt.datetime) -> dt.datetime:
    # An earlier registry's export often writes times without a zone (or dates alone): read as UTC, since a
    # naive time cannot be compared with the workflow's clock.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


UTCMoment = Annotated[dt.datetime, AfterValidator(_in_utc)]


class TimelineEvent(BaseModel):
    """One line of the pledge's public (or staff-only) history."""

    seq: int
    at: dt.datetime
    actor: Actor
    staff: str | None = None  # the staff member, when ``actor`` is staff
    kind: EventKind
    message: str
    status: PledgeStatus
    public: bool = True

    @model_validator(mode="before")
    @classmethod
    def _staff_in_actor(cls, data: object) -> object:
        # Runs recorded before the Actor enum (and the registry's column) write a staff actor "staff:<name>".
        if isinstance(data, dict) and str(data.get("actor", "")).startswith("staff:"):
            data = {**data, "actor": Actor.staff, "staff": str(data["actor"]).removeprefix("staff:")}
        return data

    @property
    def registry_actor(self) -> str:
        """The actor as the registry's timeline column keeps it: ``staff:<name>`` for a staff member."""
        return f"staff:{self.staff}" if self.actor == Actor.staff and self.staff else self.actor.value


class ReportRecord(BaseModel):
    cycle: int
    received_at: dt.datetime
    source: ReportSource
    final: bool = False
    report: ProgressReport


class CycleEmail(BaseModel):
    """An email asked for in the current cycle (the last one of its kind to its recipient), kept so an operator
    can have it sent again (``resend_email``) with the same facts."""

    cycle: int  # the email's cycle: the reporting cycle, or before publication the revision round
    kind: EmailKind
    recipient: Recipient
    thread: EmailKind | None = None
    context: dict[str, Any] = {}


class ActionResult(BaseModel):
    status: PledgeStatus
    message: str
    submission_version: int
    next_deadline: dt.datetime | None = None


class AppliedUpdate(BaseModel):
    """An action the workflow applied, by its update id: a retry carrying the same id gets this answer again,
    in this run (the server's own deduplication) or in a later one (continue-as-new forgets the ids)."""

    id: str
    result: ActionResult
    at: dt.datetime | None = None  # when it was applied; None in runs from before the field (issue 10)


KEPT_UPDATE_IDS = 50  # enough for any client's retries within a run
# A client retries an action within minutes or hours (after a 202 or a 503); continue-as-new carries the ids
# applied this long ago at most, so they do not pile up a year's worth every cycle (issue 10).
UPDATE_RETRY_WINDOW = dt.timedelta(days=30)


class PledgeState(BaseModel):
    pledge_id: str
    submission: Submission
    submission_version: int = 1
    # The version before the current one, while a revision is in review: staff see what changed.
    previous_submission: Submission | None = None
    status: PledgeStatus = PledgeStatus.in_review
    closure_reason: ClosureReason | None = None
    closure_note: str | None = None
    submitted_at: dt.datetime
    published_at: dt.datetime | None = None
    policy: Policy | None = None  # re-read at each new cycle, so a change applies from the next one
    staff: StaffContacts | None = None  # staff addresses, loaded with the policy
    review_started_at: dt.datetime | None = None  # the current review round (submission or revision)
    changes_requested_at: dt.datetime | None = None
    changes_note: str | None = None
    # Reporting cycles started (1 from publication). Cycle N is due on its anniversary: the previous
    # one plus the reporting interval of the policy in force when cycle N began.
    cycle: int = 0
    cycle_due_at: dt.datetime | None = None
    final_cycle: bool = False  # the cycle that asks for the final report (end date reached)
    cycle_reported: bool = False  # the current cycle's report has arrived
    extension_days: int = 0  # granted for the current cycle; shifts its remaining steps
    steps_done: list[StepName] = []  # steps of the current stage's ladder already taken (workflows.ladder)
    next_deadline: dt.datetime | None = None
    next_step: str | None = None  # what happens at next_deadline, in words
    approvals: list[str] = []
    missed_cycles: int = 0
    last_report_at: dt.datetime | None = None
    reports: list[ReportRecord] = []
    pending_extension_reason: str | None = None
    last_email: str | None = None
    reply_message_ids: list[str] = []  # email replies already counted, newest last
    timeline: list[TimelineEvent] = []
    idempotency_key: str | None = None
    email_task_queue: str = "pledge-email"  # from settings at submission; tests isolate by queue
    emails_asked: dict[str, int] = {}  # "cycle/kind/recipient" → messages asked for, for EmailRequest.occurrence
    cycle_emails: list[CycleEmail] = []  # this cycle's emails, the last of each kind and recipient, oldest first
    # Contacts' addresses (lowercase) that unsubscribed from reminders by one-click: no reminder is asked for
    # them, in this cycle or any later one. Runs recorded before there was such a field carry none.
    reminders_stopped: list[str] = []
    applied_updates: list[AppliedUpdate] = []  # the newest KEPT_UPDATE_IDS actions, newest last
    # The warning mails of the current cycle that a consequence waits for (the final notice before non-reporting
    # or the end, the non-reporting notice before delisting): how many to the contacts are still on their way,
    # and when the last of them settled (sent, skipped or failed for good). Runs before issue 14 keep none.
    warnings_pending: dict[EmailKind, int] = {}
    warnings_settled_at: dict[EmailKind, dt.datetime] = {}
    # Projections sent to the registry, over every run: each carries its number (workflows/projection.py).
    registry_writes: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed_actions(self) -> list[Action]:
        """What a person may do to the pledge now; the update validators hold the remaining checks."""
        allowed = [action for action, statuses in ACCEPTED_IN.items() if self.status in statuses]
        if self.pending_extension_reason is None and Action.refuse_extension in allowed:
            allowed.remove(Action.refuse_extension)
        return allowed


class ImportedReport(ProgressReport):
    """A progress report an earlier registry received, with the time it came in."""

    received_at: UTCMoment


class ImportedPledge(BaseModel):
    """What an earlier registry knew of a pledge (``pledgeflow import``): the import start path places it on its
    ladder as the policy says (workflows/placement.py), without email for what has passed.

    ``status`` is needed only where the dates cannot tell: a pledge still in vetting (``in_review``,
    ``changes_requested``) or ``closed`` with its ``closure_reason``; a published pledge's status follows from
    its dates and the policy.
    """

    model_config = ConfigDict(extra="forbid")

    key: str  # external_id or content hash: what makes importing it again find the same pledge
    submitted_at: UTCMoment
    published_at: UTCMoment | None = None
    last_report_at: UTCMoment | None = None
    reports: list[ImportedReport] = []
    status: PledgeStatus | None = None
    closure_reason: ClosureReason | None = None
    notify: bool = False  # send the email of the step the pledge stands at now (docs/import.md)

    @model_validator(mode="after")
    def _consistent(self) -> ImportedPledge:
        never_public = {PledgeStatus.in_review, PledgeStatus.changes_requested}
        if self.published_at is not None and self.published_at < self.submitted_at:
            raise ValueError("published_at: before submitted_at")
        reported = [report.received_at for report in self.reports]
        if self.last_report_at is not None:
            reported.append(self.last_report_at)
        if reported and self.published_at is None:
            raise ValueError("reports: a pledge that was never published has no reports")
        if self.published_at is not None and any(at < self.published_at for at in reported):
            raise ValueError("reports: a report received before published_at")
        if self.status in never_public and self.published_at is not None:
            raise ValueError(f"status: a pledge {self.status.value} has not been published; drop published_at")
        if self.status in CYCLE_STATUSES and self.published_at is None:
            raise ValueError(f"published_at: required for status {self.status.value}")
        if (self.status == PledgeStatus.closed) != (self.closure_reason is not None):
            raise ValueError("closure_reason: required with status closed, and only then")
        unpublished = {ClosureReason.rejected, ClosureReason.abandoned}
        if self.closure_reason in unpublished and self.published_at is not None:
            raise ValueError(f"closure_reason: a {self.closure_reason.value} pledge was never published")
        return self


class StartInput(BaseModel):
    """A new pledge (``state`` empty), an imported one (``imported`` set), or the carried state of
    continue-as-new."""

    pledge_id: str
    submission: Submission | None = None
    idempotency_key: str | None = None
    email_task_queue: str = "pledge-email"
    state: PledgeState | None = None
    imported: ImportedPledge | None = None


class _ActionInput(BaseModel):
    """Every action's text reaches the timeline and the registry: none may hold what a database cannot store,
    whichever door (API, page form, CLI) it came through."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: object) -> object:
        if isinstance(value, str) and (problem := unstorable(value)):
            raise ValueError(problem)
        return value


class Decision(StrEnum):
    approve = "approve"
    reject = "reject"
    request_changes = "request_changes"


class DecisionInput(_ActionInput):
    decision: Decision
    note: Annotated[str, Field(max_length=5000)] | None = None
    staff: str


class RevisionInput(BaseModel):
    submission: Submission
    expected_version: int | None = None  # from If-Match; stale → refused


class ReportInput(BaseModel):
    report: ProgressReport
    source: ReportSource = "api"
    cycle: int | None = None  # report links are scoped to one cycle


class ExtensionRequestInput(_ActionInput):
    reason: Annotated[str, Field(min_length=10, max_length=2000)]


class ExtensionGrantInput(_ActionInput):
    days: Annotated[int, Field(ge=1)]
    reason: Annotated[str, Field(min_length=3, max_length=2000)]
    staff: str


class ExtensionRefusalInput(_ActionInput):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]
    staff: str


class WithdrawalInput(_ActionInput):
    reason: Annotated[str, Field(max_length=2000)] | None = None


class ClosureInput(_ActionInput):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]
    staff: str


class ResendInput(_ActionInput):
    """Send an email of the current cycle again: the last one asked for, or the last of ``kind``."""

    kind: EmailKind | None = None
    staff: str


class StopRemindersInput(_ActionInput):
    """A contact's one-click unsubscribe (RFC 8058) from a reminder: the address the link was sent to."""

    recipient: Annotated[str, Field(min_length=3, max_length=320)]


class LinksRenewalInput(_ActionInput):
    staff: str


class EmailReply(BaseModel):
    """A pledger's plain reply to a report request, already parsed and stripped of quotes."""

    message_id: str
    sender: str
    text: str
    cycle: int
    received_at: dt.datetime
