"""Turning an :class:`EmailRequest` into the MIME message a person receives (docs/email.md §2).

Templates live in ``email_templates/`` (``<kind>.txt`` and ``<kind>.html`` on one layout). The workflow
supplies the facts of ``workflows.emails.CONTEXT``; this module adds who it is for, the subject and the
signed links, and sets the headers that make the mail threadable, answerable and safe from header injection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from email_templates import TEMPLATE_DIR
from pledgeflow.auth import reply_tokens
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from pledgeflow.core import links
from pledgeflow.core.settings import Settings
from workflows.emails import ALWAYS, CONTEXT, REPORT_ASKING, THREADED, EmailKind, EmailRequest

REGISTRY_NAME = "Pledgeflow Registry"
STAFF_ROLES = frozenset({"vetting_team", "vetting_lead", "secretariat"})
# The confirmation of a report links back to the form so the pledger can add detail to a reply by email.
REPORT_LINKED = REPORT_ASKING | {EmailKind.report_received}

SUBJECTS: dict[EmailKind, str] = {
    EmailKind.submission_received: "We received your pledge “{{ title }}”",
    EmailKind.review_requested: "New pledge to review: “{{ title }}” ({{ organization }})",
    EmailKind.review_overdue: "Review overdue: “{{ title }}” has waited {{ waiting_days }} days",
    EmailKind.review_escalated: "Escalated: “{{ title }}” has waited {{ waiting_days }} days for review",
    EmailKind.changes_requested: "Changes requested to your pledge “{{ title }}” by {{ deadline | day }}",
    EmailKind.revision_reminder: "Reminder: please revise “{{ title }}” by {{ deadline | day }}",
    EmailKind.rejected: "Your pledge “{{ title }}” was not accepted",
    EmailKind.abandoned: "Your pledge “{{ title }}” was closed without a revision",
    EmailKind.published: "Your pledge “{{ title }}” is published",
    EmailKind.report_request: "Please report progress on “{{ title }}” by {{ deadline | day }}",
    EmailKind.reminder_1: "Reminder: your progress report on “{{ title }}” is due {{ deadline | day }}",
    EmailKind.reminder_2: "Second reminder: progress report on “{{ title }}” due {{ deadline | day }}",
    EmailKind.final_notice: "Final notice: report on “{{ title }}” by {{ deadline | day }}",
    EmailKind.non_reporting: "“{{ title }}” is now listed as not reporting",
    EmailKind.report_received: "Thank you: your progress report on “{{ title }}” is received",
    EmailKind.extension_granted: "Extension granted: your report on “{{ title }}” is now due {{ deadline | day }}",
    EmailKind.extension_refused: "Your extension request for “{{ title }}” was not granted",
    EmailKind.delisted: "“{{ title }}” has been delisted from the registry",
    EmailKind.final_report_request: "Please send your final report on “{{ title }}” by {{ deadline | day }}",
    EmailKind.closed: "{{ 'Completed' if closure_reason == 'completed' else 'Closed' }}: your pledge “{{ title }}”",
    EmailKind.withdrawn: "You withdrew your pledge “{{ title }}”",
    EmailKind.links_renewed: "New link for your pledge “{{ title }}”",
}


class MissingContext(ValueError):
    """The workflow left out a fact the message needs; sending it would say something false."""


def format_day(value: object) -> str:
    """An ISO date or datetime as people write it: ``14 March 2027``."""
    day = value if isinstance(value, dt.datetime | dt.date) else dt.datetime.fromisoformat(str(value))
    if isinstance(day, dt.datetime) and day.tzinfo is not None:
        day = day.astimezone(dt.UTC)
    return f"{day.day} {day:%B %Y}"


def format_usd(value: object) -> str:
    return f"USD {float(str(value)):,.0f}"


def in_words(value: object) -> str:
    """An enum value such as ``on_track`` as words: ``on track``."""
    return str(value).replace("_", " ")


def one_line(value: str) -> str:
    """Header values come from user input: folding all whitespace makes CR/LF injection impossible."""
    return " ".join(value.split())


def recipient_address(name: str, email: str) -> Address:
    """The To: of one recipient, built from its parts: whatever the name holds (commas, brackets, quotes, an
    address), the header policy quotes or encodes it as one display name, never as a second address."""
    local, _, domain = one_line(email).rpartition("@")
    return Address(display_name=one_line(name), username=local, domain=domain)


FILTERS = {"day": format_day, "usd": format_usd, "words": in_words}

_templates = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(FILTERS)
# Subjects are header text, never HTML: escaping would show "&amp;" to the reader; one_line() guards them.
_subjects = Environment(undefined=StrictUndefined, autoescape=False)  # noqa: S701
_subjects.filters.update(FILTERS)
_subject_templates = {kind: _subjects.from_string(subject) for kind, subject in SUBJECTS.items()}


def message_id(secret: bytes, business_key: str, domain: str) -> str:
    """Deterministic, so a resend carries the same id; unguessable without the secret."""
    digest = hmac.new(secret, business_key.encode(), hashlib.sha256).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def thread_parent(request: EmailRequest) -> EmailRequest | None:
    """The earlier message this one answers: reminders answer their cycle's report request."""
    kind = request.thread_kind or (EmailKind.report_request if request.kind in THREADED else None)
    if kind is None or kind == request.kind:
        return None
    return request.model_copy(update={"kind": kind, "thread_kind": None, "occurrence": 1})


def missing_context(request: EmailRequest) -> list[str]:
    return sorted((ALWAYS | CONTEXT[request.kind]) - request.context.keys())


class EmailRenderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = settings.signing_key()
        self.domain = settings.mail_from.rsplit("@", 1)[-1].rstrip(">").strip()

    def message_id(self, request: EmailRequest) -> str:
        return message_id(self.secret, request.business_key, self.domain)

    def reply_address(self, request: EmailRequest, token_version: int) -> str:
        token = reply_tokens.issue(self.secret, request.pledge_id, request.cycle, token_version)
        return reply_tokens.reply_address(token, self.settings.inbound_domain)

    def context(self, request: EmailRequest, token_version: int) -> dict[str, Any]:
        missing = missing_context(request)
        if missing:
            raise MissingContext(f"{request.kind.value} email needs {', '.join(missing)} in its context")
        base = self.settings.public_base_url
        pledge = request.pledge_id
        added: dict[str, Any] = {
            "pledge_id": pledge,
            "recipient_name": request.recipient.name,
            "registry_name": REGISTRY_NAME,
            "pledge_url": links.pledge_page(base, pledge),
        }
        if request.recipient.role in STAFF_ROLES:
            # A manage token would let a shared staff mailbox act as the pledger: staff get the review page.
            added["review_url"] = links.review_page(base, pledge)
        else:
            manage = issue(self.secret, TokenClaims(pledge, Purpose.manage, token_version))
            added["manage_url"] = links.manage_page(base, pledge, manage)
        # Staff told about a missing report (the secretariat's final notice) must not be able to file it.
        if request.kind in REPORT_LINKED and request.recipient.role not in STAFF_ROLES:
            report = issue(self.secret, TokenClaims(pledge, Purpose.report, token_version, cycle=request.cycle))
            added["report_url"] = links.report_form(base, pledge, report)
            if request.kind in REPORT_ASKING:
                added["reply_to"] = self.reply_address(request, token_version)
        context = {**request.context, **added}
        context["subject"] = one_line(_subject_templates[request.kind].render(context))
        return context

    def render(self, request: EmailRequest, token_version: int = 1) -> EmailMessage:
        context = self.context(request, token_version)
        text = _templates.get_template(f"{request.kind.value}.txt").render(context)
        html = _templates.get_template(f"{request.kind.value}.html").render(context)
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = recipient_address(request.recipient.name, request.recipient.email)
        message["Subject"] = context["subject"]
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Message-ID"] = self.message_id(request)
        parent = thread_parent(request)
        if parent is not None:
            message["In-Reply-To"] = self.message_id(parent)
            message["References"] = self.message_id(parent)
        if "reply_to" in context:
            message["Reply-To"] = context["reply_to"]
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-Pledgeflow-Pledge"] = request.pledge_id
        message["X-Pledgeflow-Kind"] = request.kind.value
        message.set_content(text + "\n")
        message.add_alternative(html, subtype="html")
        return message
