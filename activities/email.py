"""Sending one email exactly once per business key (SPEC 6), through aiosmtplib.

The send ledger is the idempotency guard: a business key recorded as sent is never sent again, so a
retry after the SMTP server's 250 reaches nobody twice.
"""

from __future__ import annotations

import hashlib
import hmac
from email.message import EmailMessage
from email.utils import formataddr, formatdate

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from temporalio import activity
from temporalio.exceptions import ApplicationError

from email_templates import TEMPLATE_DIR
from pledgeflow.db import session_for
from pledgeflow.models import EmailSuppression, SentEmail, utcnow
from pledgeflow.settings import Settings
from pledgeflow.tokens import Purpose, TokenClaims, issue
from workflows.emails import EmailKind, EmailOutcome, EmailRequest

SUBJECTS: dict[EmailKind, str] = {
    EmailKind.submission_received: "We received your pledge {pledge_id}",
}

_environment = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR),
    undefined=StrictUndefined,
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    keep_trailing_newline=True,
)


def message_id(secret: bytes, business_key: str, domain: str) -> str:
    """Deterministic, so a resend carries the same id; unguessable without the secret."""
    digest = hmac.new(secret, business_key.encode(), hashlib.sha256).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class EmailActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secret = settings.signing_key()
        self.domain = settings.mail_from.rsplit("@", 1)[-1].rstrip(">")

    def _links(self, request: EmailRequest) -> dict[str, str]:
        base = self.settings.public_base_url.rstrip("/")
        manage = issue(self.secret, TokenClaims(request.pledge_id, Purpose.manage, 1))
        return {
            "pledge_url": f"{base}/registry/{request.pledge_id}",
            "manage_url": f"{base}/pledges/{request.pledge_id}?token={manage}",
        }

    def render(self, request: EmailRequest) -> EmailMessage:
        context = {
            "registry_name": "Pledge registry",
            "pledge_id": request.pledge_id,
            "recipient_name": request.recipient.name,
            **self._links(request),
            **request.context,
        }
        subject = SUBJECTS[request.kind].format(**context)
        context["subject"] = subject
        text = _environment.get_template(f"{request.kind.value}.txt").render(context)
        html = _environment.get_template(f"{request.kind.value}.html").render(context)
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = formataddr((request.recipient.name, request.recipient.email))
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id(self.secret, request.business_key, self.domain)
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
        message["X-Pledgeflow-Pledge"] = request.pledge_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    @activity.defn
    async def send_email(self, request: EmailRequest) -> EmailOutcome:
        key = request.business_key
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, key)
            if entry is not None and entry.state in {"sent", "skipped", "failed"}:
                return EmailOutcome(state=entry.state, message_id=entry.message_id, detail="already recorded")
            message = self.render(request)
            if entry is None:
                entry = SentEmail(
                    business_key=key,
                    pledge_id=request.pledge_id,
                    cycle=request.cycle,
                    kind=request.kind.value,
                    recipient=request.recipient.email.lower(),
                    message_id=message["Message-ID"],
                    state="sending",
                    created_at=utcnow(),
                )
            if session.get(EmailSuppression, request.recipient.email.lower()) is not None:
                entry.state = "skipped"
                session.add(entry)
                session.commit()
                return EmailOutcome(state="skipped", message_id=entry.message_id, detail="do-not-email")
            entry.attempts += 1
            session.add(entry)
            session.commit()
        try:
            await aiosmtplib.send(
                message,
                hostname=self.settings.smtp_host,
                port=self.settings.smtp_port,
                timeout=self.settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                self._finish(key, "failed", f"{exc.code} {exc.message}")
                raise ApplicationError(f"SMTP refused {key}: {exc.code} {exc.message}", non_retryable=True) from exc
            raise
        self._finish(key, "sent", None)
        return EmailOutcome(state="sent", message_id=message["Message-ID"])

    def _finish(self, key: str, state: str, error: str | None) -> None:
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, key)
            assert entry is not None
            entry.state = state
            entry.last_error = error
            entry.sent_at = utcnow() if state == "sent" else None
            session.add(entry)
            session.commit()
