"""Sending one email at most once per business key (docs/email.md §3), through aiosmtplib.

The send ledger (``SentEmail``) is the idempotency guard: a business key recorded as sent is never sent
again, so a retry after the SMTP server's 250 reaches nobody twice. What the server answers decides the
rest: a 4xx or a lost connection is retryable (the workflow's retry policy backs off) and recorded as
"sending" with the server's answer; a 5xx is final, recorded as "failed" and raised non-retryable so it
shows in the Temporal UI; a timeout after DATA leaves the key "sending", so the retry resends with the
same Message-ID and the reader's mail client folds the two copies into one.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import aiosmtplib
from jinja2 import TemplateError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email_render import EmailRenderer, MissingContext
from pledgeflow.auth.revocation import current_token_version
from pledgeflow.core.db import session_for
from pledgeflow.core.models import EmailSuppression, SentEmail, utcnow
from pledgeflow.core.settings import Settings
from pledgeflow.inbound import bounces
from workflows.emails import EmailOutcome, EmailRequest

# ApplicationError types, so an operator (and the workflow) can tell why a send failed.
CONTEXT_MISSING = "EmailContextMissing"
TEMPLATE_BROKEN = "EmailTemplateError"
SMTP_PERMANENT = "SmtpPermanentFailure"
SMTP_TEMPORARY = "SmtpTemporaryFailure"


class EmailActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.renderer = EmailRenderer(settings)

    @activity.defn
    async def send_email(self, request: EmailRequest) -> EmailOutcome:
        prepared = await asyncio.to_thread(self._prepare, request)
        if isinstance(prepared, EmailOutcome):
            return prepared
        message_id = str(prepared["Message-ID"])
        try:
            await self._deliver(request, prepared)
        except aiosmtplib.SMTPException as exc:
            code, reason = _smtp_answer(exc)
            final = code >= 500
            await asyncio.to_thread(self._record, request, message_id, "failed" if final else "sending", reason)
            if final:
                activity.logger.error("email %s refused for good: %s", request.business_key, reason)
                raise ApplicationError(
                    f"SMTP server refused {request.kind.value} email to {request.recipient.email}: {reason}",
                    type=SMTP_PERMANENT,
                    non_retryable=True,
                ) from exc
            raise ApplicationError(f"SMTP delivery will be retried: {reason}", type=SMTP_TEMPORARY) from exc
        except OSError as exc:
            await asyncio.to_thread(self._record, request, message_id, "sending", f"connection: {exc}")
            raise ApplicationError(f"SMTP server unreachable, will retry: {exc}", type=SMTP_TEMPORARY) from exc
        await asyncio.to_thread(self._record, request, message_id, "sent", None)
        return EmailOutcome(state="sent", message_id=message_id)

    def _prepare(self, request: EmailRequest) -> EmailMessage | EmailOutcome:
        """The message to send now, or the outcome already decided for this business key."""
        recipient = request.recipient.email.lower()
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, request.business_key)
            if entry is not None and entry.state in {"sent", "skipped"}:
                return EmailOutcome(state=entry.state, message_id=entry.message_id, detail=f"already {entry.state}")
            if entry is not None and entry.state == "failed":
                raise ApplicationError(
                    f"{request.kind.value} email to {recipient} failed before: {entry.last_error}",
                    type=SMTP_PERMANENT,
                    non_retryable=True,
                )
            suppression = session.get(EmailSuppression, recipient)
            token_version = current_token_version(session, request.pledge_id)
        try:
            message = self.renderer.render(request, token_version=token_version)
        except MissingContext as exc:
            raise ApplicationError(str(exc), type=CONTEXT_MISSING, non_retryable=True) from exc
        except TemplateError as exc:  # a retry renders the same template the same way
            raise ApplicationError(
                f"{request.kind.value} email cannot be rendered: {exc}", type=TEMPLATE_BROKEN, non_retryable=True
            ) from exc
        if suppression is not None:
            self._record(request, str(message["Message-ID"]), "skipped", f"do-not-email: {suppression.reason}")
            return EmailOutcome(
                state="skipped",
                message_id=str(message["Message-ID"]),
                detail=f"{recipient} is do-not-email ({suppression.reason})",
            )
        return message

    async def _deliver(self, request: EmailRequest, message: EmailMessage) -> None:
        settings = self.settings
        await aiosmtplib.send(
            message,
            # The envelope names the one recipient: nothing in a header can add another. Its sender is
            # this message's own return path (VERP), so a bounce says which message and recipient failed.
            sender=bounces.return_path(str(message["Message-ID"]), settings.inbound_domain),
            recipients=[request.recipient.email],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )

    def _record(self, request: EmailRequest, message_id: str, state: str, error: str | None) -> None:
        """One write per attempt, after the SMTP conversation: a crash before it only means a resend with
        the same Message-ID, exactly as after a timeout, so writing "sending" first would buy nothing."""
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, request.business_key) or SentEmail(
                business_key=request.business_key,
                pledge_id=request.pledge_id,
                cycle=request.cycle,
                kind=request.kind.value,
                recipient=request.recipient.email.lower(),
                message_id=message_id,
                state=state,
                created_at=utcnow(),
            )
            entry.state = state
            if error is not None:  # a sent entry keeps the answer that delayed it, for the operator
                entry.last_error = error
            if state != "skipped":
                entry.attempts += 1
            if state == "sent":
                entry.sent_at = utcnow()
            session.add(entry)
            session.commit()


def _smtp_answer(exc: aiosmtplib.SMTPException) -> tuple[int, str]:
    """The SMTP reply code (0 when the server gave none, e.g. a timeout) and a line saying what happened."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        code = min((refusal.code for refusal in refusals), default=0)
        return code, "; ".join(f"{refusal.code} {refusal.message}" for refusal in refusals)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code, f"{exc.code} {exc.message}"
    return 0, f"{type(exc).__name__}: {exc}"
