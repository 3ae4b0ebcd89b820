"""Turning an :class:`EmailRequest` into the MIME message a person receives (docs/email.md §2).

Templates live in ``email_templates/`` (``<kind>.txt`` and ``<kind>.html`` on one layout). The workflow
supplies the facts of ``workflows.emails.CONTEXT``; this module adds who it is for, the subject and the
signed links, and sets the headers that make the mail threadable, answerable and safe from header injection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from email import _header_value_parser as header_parser
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from email_templates import TEMPLATE_DIR
from pledgeflow import i18n
from pledgeflow.auth import reply_tokens
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue, recipient_digest
from pledgeflow.core import links
from pledgeflow.core.settings import Settings
from pledgeflow.i18n import N_, templates
from workflows.emails import ADDED_LATER, ALWAYS, CONTEXT, REMINDERS, REPORT_ASKING, THREADED, EmailKind, EmailRequest

REGISTRY_NAME = "Pledgeflow Registry"
STAFF_ROLES = frozenset({"vetting_team", "vetting_lead", "secretariat"})
# The confirmation of a report links back to the form so the pledger can add detail to a reply by email.
REPORT_LINKED = REPORT_ASKING | {EmailKind.report_received}

# Revising is what these ask for: they link to the revise page.
REVISION_LINKED = frozenset({EmailKind.changes_requested, EmailKind.revision_reminder})

# Each subject is a catalogue message; its facts are the context's, with ``deadline`` as the reader writes
# a date and ``waiting_days`` as a number.
SUBJECTS: dict[EmailKind, str] = {
    EmailKind.submission_received: N_("We received your pledge “%(title)s”"),
    EmailKind.review_requested: N_("New pledge to review: “%(title)s” (%(organization)s)"),
    EmailKind.review_overdue: N_("Review overdue: “%(title)s” has waited %(waiting_days)s days"),
    EmailKind.review_escalated: N_("Escalated: “%(title)s” has waited %(waiting_days)s days for review"),
    EmailKind.changes_requested: N_("Changes requested to your pledge “%(title)s” by %(deadline)s"),
    EmailKind.revision_reminder: N_("Reminder: please revise “%(title)s” by %(deadline)s"),
    EmailKind.rejected: N_("Your pledge “%(title)s” was not accepted"),
    EmailKind.abandoned: N_("Your pledge “%(title)s” was closed without a revision"),
    EmailKind.published: N_("Your pledge “%(title)s” is published"),
    EmailKind.report_request: N_("Please report progress on “%(title)s” by %(deadline)s"),
    EmailKind.reminder_1: N_("Reminder: your progress report on “%(title)s” is due %(deadline)s"),
    EmailKind.reminder_2: N_("Second reminder: progress report on “%(title)s” due %(deadline)s"),
    EmailKind.final_notice: N_("Final notice: report on “%(title)s” by %(deadline)s"),
    EmailKind.non_reporting: N_("“%(title)s” is now listed as not reporting"),
    EmailKind.report_received: N_("Thank you: your progress report on “%(title)s” is received"),
    EmailKind.extension_granted: N_("Extension granted: your report on “%(title)s” is now due %(deadline)s"),
    EmailKind.extension_refused: N_("Your extension request for “%(title)s” was not granted"),
    EmailKind.delisted: N_("“%(title)s” has been delisted from the registry"),
    EmailKind.final_report_request: N_("Please send your final report on “%(title)s” by %(deadline)s"),
    EmailKind.closed: N_("Closed: your pledge “%(title)s”"),
    EmailKind.withdrawn: N_("You withdrew your pledge “%(title)s”"),
    EmailKind.reminders_stopped: N_("Reminders stopped: the %(contact_role)s of “%(title)s” unsubscribed"),
    EmailKind.links_renewed: N_("New link for your pledge “%(title)s”"),
}
COMPLETED_SUBJECT = N_("Completed: your pledge “%(title)s”")


class MissingContext(ValueError):
    """The workflow left out a fact the message needs; sending it would say something false."""


def format_day(value: object, language: str = i18n.DEFAULT) -> str:
    """An ISO date or datetime as people of ``language`` write it: ``14 March 2027``, ``14 mars 2027``.
    A deadline is a UTC time, so it falls on its UTC day."""
    day = value if isinstance(value, dt.datetime | dt.date) else dt.datetime.fromisoformat(str(value))
    return i18n.day(day, language)


@pass_context
def _day(context: Context, value: object) -> str:
    return format_day(value, context["lang"])


@pass_context
def _usd(context: Context, value: object) -> str:
    return i18n.usd(float(str(value)), context["lang"])


@pass_context
def _words(context: Context, value: object) -> str:
    """An enum value such as ``on_track`` in the reader's words: ``on track``, ``en bonne voie``."""
    english = str(value).replace("_", " ")
    return i18n.gettext(context["lang"], english[:1].upper() + english[1:]).lower()


def one_line(value: str) -> str:
    """Header values come from user input: folding all whitespace makes CR/LF injection impossible."""
    return " ".join(value.split())


def recipient_address(name: str, email: str) -> Address:
    """The To: of one recipient, built from its parts: whatever the name holds (commas, brackets, quotes, an
    address), the header policy quotes or encodes it as one display name, never as a second address."""
    local, _, domain = one_line(email).rpartition("@")
    return Address(display_name=one_line(name), username=local, domain=domain)


_templates = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
    extensions=[templates.EXTENSION],
    # Templates change with a deployment, which restarts the worker: no look at the files' times per render.
    auto_reload=False,
)
templates.speak_catalogues(_templates)
_templates.filters.update(day=_day, usd=_usd, words=_words)


def subject(request: EmailRequest, language: str) -> str:
    """The subject in the reader's language. Header text, never HTML: one_line() keeps it one line."""
    facts = dict(request.context)
    if "deadline" in facts:
        facts["deadline"] = format_day(facts["deadline"], language)
    if "contact_role" in facts:  # only staff read it, in the registry's language
        facts["contact_role"] = str(facts["contact_role"]).replace("_", " ")
    completed = request.kind == EmailKind.closed and facts.get("closure_reason") == "completed"
    message = COMPLETED_SUBJECT if completed else SUBJECTS[request.kind]
    return one_line(i18n.gettext(language, message) % facts)


def language_of(request: EmailRequest) -> str:
    """The pledger's language for the pledger's contacts; staff read the registry's default language."""
    if request.recipient.role in STAFF_ROLES:
        return i18n.DEFAULT
    return i18n.supported(request.language) or i18n.DEFAULT


class _UrlList(header_parser.TokenList):
    token_type = "url-list"  # noqa: S105 (the email parser's kind of token, not a secret)
    as_ew_allowed = False  # RFC 2047 encoded words are not allowed in a URL, and mail clients reject them


class _UrlListHeader(BaseHeader):
    """RFC 2369 list headers hold ``<URL>``s that are longer than a line. The email package would fold such
    an unbroken value into RFC 2047 encoded words, which mail clients do not take for a URL; this keeps it
    whole on a continuation line."""

    max_count = 1

    @classmethod
    def parse(cls, value: str, kwds: dict[str, Any]) -> None:
        kwds["parse_tree"] = _UrlList([header_parser.ValueTerminal(value, "url-list")])
        kwds["decoded"] = value


# Headers whose every value is one of a few: the content headers ``set_content`` and ``add_alternative`` write
# (``text/plain``, ``8bit``, ``1.0``...) and the constant ones of ``render``. Each value is parsed once.
FEW_VALUES = frozenset(
    {
        "content-type",
        "content-transfer-encoding",
        "mime-version",
        "auto-submitted",
        "x-auto-response-suppress",
        "list-unsubscribe-post",
        "x-pledgeflow-kind",
    }
)
_KEPT_VALUES = 256  # bounds the store: a Content-Type with a boundary, say, is made afresh


class _HeaderTypes(HeaderRegistry):
    """The email package makes a new class for every header it builds (``HeaderRegistry.__getitem__``), a
    quarter of a message's render; the class depends on the header's name only, so each is made once.
    A header of ``FEW_VALUES`` is made once per value too and shared, as the sender is: a header is immutable,
    and the one made earlier is the one the email package would make again (tests/activities/test_email_build.py).
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}
        self._kept: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str) or name.lower() not in FEW_VALUES:
            header: BaseHeader = super().__call__(name, value)
            return header
        kept = self._kept.get((name, value))
        if kept is None:
            kept = super().__call__(name, value)
            if len(self._kept) < _KEPT_VALUES:
                self._kept[name, value] = kept
        return kept


_list_headers = _HeaderTypes()
_list_headers.map_to_type("list-unsubscribe", _UrlListHeader)
# The messages we build: the email package's default policy with the header classes made once.
POLICY = policy.default.clone(header_factory=_HeaderTypes())


def list_header(name: str, value: str) -> BaseHeader:
    header: BaseHeader = _list_headers(name, value)
    return header


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
    given = request.context.keys() | ADDED_LATER.get(request.kind, {}).keys()
    return sorted((ALWAYS | CONTEXT[request.kind]) - given)


class EmailRenderer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = settings.signing_key()
        self.domain = settings.mail_from.rsplit("@", 1)[-1].rstrip(">").strip()
        # The same sender on every message: its address parsed once (a header is immutable, so it is shared).
        self.sender = POLICY.header_factory("From", settings.mail_from)

    def message_id(self, request: EmailRequest) -> str:
        return message_id(self.secret, request.business_key, self.domain)

    def reply_address(self, request: EmailRequest, token_version: int) -> str:
        token = reply_tokens.issue(self.secret, request.pledge_id, request.cycle, token_version)
        return reply_tokens.reply_address(token, self.settings.inbound_domain)

    def unsubscribe_link(self, request: EmailRequest, token_version: int) -> str:
        """Stops reminders to this recipient of this pledge, and nothing else (RFC 8058 one-click)."""
        recipient = recipient_digest(self.secret, request.recipient.email)
        claims = TokenClaims(request.pledge_id, Purpose.unsubscribe, token_version, recipient=recipient)
        return links.unsubscribe_link(self.settings.public_base_url, request.pledge_id, issue(self.secret, claims))

    def context(self, request: EmailRequest, token_version: int) -> dict[str, Any]:
        missing = missing_context(request)
        if missing:
            raise MissingContext(f"{request.kind.value} email needs {', '.join(missing)} in its context")
        base = self.settings.public_base_url
        pledge = request.pledge_id
        language = language_of(request)
        added: dict[str, Any] = {
            "lang": language,
            "dir": i18n.direction(language),
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
            if request.kind in REVISION_LINKED:
                added["revise_url"] = links.revise_page(base, pledge, manage)
        # Staff told about a missing report (the secretariat's final notice) must not be able to file it.
        if request.kind in REPORT_LINKED and request.recipient.role not in STAFF_ROLES:
            report = issue(self.secret, TokenClaims(pledge, Purpose.report, token_version, cycle=request.cycle))
            added["report_url"] = links.report_form(base, pledge, report)
            if request.kind in REPORT_ASKING:
                added["reply_to"] = self.reply_address(request, token_version)
        if request.kind in REMINDERS and request.recipient.role not in STAFF_ROLES:
            added["unsubscribe_url"] = self.unsubscribe_link(request, token_version)
        context = {**ADDED_LATER.get(request.kind, {}), **request.context, **added}
        context["subject"] = subject(request, language)
        return context

    def render(self, request: EmailRequest, token_version: int = 1) -> EmailMessage:
        context = self.context(request, token_version)
        text = _templates.get_template(f"{request.kind.value}.txt").render(context)
        html = _templates.get_template(f"{request.kind.value}.html").render(context)
        message = EmailMessage(policy=POLICY)
        message["From"] = self.sender
        message["To"] = recipient_address(request.recipient.name, request.recipient.email)
        message["Subject"] = context["subject"]
        message["Date"] = dt.datetime.now(dt.UTC)  # the header formats it: nothing to parse back
        message["Message-ID"] = self.message_id(request)
        parent = thread_parent(request)
        if parent is not None:
            message["In-Reply-To"] = self.message_id(parent)
            message["References"] = self.message_id(parent)
        if "reply_to" in context:
            message["Reply-To"] = context["reply_to"]
        if "unsubscribe_url" in context:
            # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" to the URL, with no cookie; the
            # URL alone (its token) says which recipient of which pledge. DKIM must sign both headers.
            message["List-Unsubscribe"] = list_header("List-Unsubscribe", f"<{context['unsubscribe_url']}>")
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-Pledgeflow-Pledge"] = request.pledge_id
        message["X-Pledgeflow-Kind"] = request.kind.value
        message.set_content(text + "\n")
        message.add_alternative(html, subtype="html")
        return message
