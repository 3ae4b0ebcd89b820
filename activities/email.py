"""Sending one email at most once per business key (SPEC 6), through aiosmtplib.

The send ledger (``SentEmail``) is the idempotency guard: a business key recorded as sent is never sent
again, so a retry after the SMTP server's 250 reaches nobody twice. What the server answers decides the
rest: a 4xx or a lost connection is retryable (the workflow's retry policy backs off); a 5xx is final,
recorded in the ledger and raised non-retryable so it shows in the Temporal UI; a timeout after DATA
leaves the key "sending", so the retry resends with the same Message-ID and the reader's mail client
folds the two copies into one.
"""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import parseaddr

import aiosmtplib
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email_render import EmailRenderer, MissingContext
from pledgeflow.db import session_for
from pledgeflow.models import EmailSuppression, Pledge, SentEmail, utcnow
from pledgeflow.settings import Settings
from workflows.emails import EmailOutcome, EmailRequest

# ApplicationError types, so an operator (and the workflow) can tell why a send failed.
CONTEXT_MISSING = "EmailContextMissing"
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
        try:
            await self._deliver(request, prepared)
        except aiosmtplib.SMTPException as exc:
            code, reason = _smtp_answer(exc)
            await asyncio.to_thread(self._record, request.business_key, code >= 500, reason)
            if code >= 500:
                activity.logger.error("email %s refused for good: %s", request.business_key, reason)
                raise ApplicationError(
                    f"SMTP server refused {request.kind.value} email to {request.recipient.email}: {reason}",
                    type=SMTP_PERMANENT,
                    non_retryable=True,
                ) from exc
            raise ApplicationError(f"SMTP delivery will be retried: {reason}", type=SMTP_TEMPORARY) from exc
        except OSError as exc:
            await asyncio.to_thread(self._record, request.business_key, False, f"connection: {exc}")
            raise ApplicationError(f"SMTP server unreachable, will retry: {exc}", type=SMTP_TEMPORARY) from exc
        await asyncio.to_thread(self._record_sent, request.business_key)
        return EmailOutcome(state="sent", message_id=str(prepared["Message-ID"]))

    def _prepare(self, request: EmailRequest) -> EmailMessage | EmailOutcome:
        """The message to send now, or the outcome already decided for this business key."""
        key = request.business_key
        recipient = request.recipient.email.lower()
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, key)
            if entry is not None and entry.state in {"sent", "skipped"}:
                return EmailOutcome(state=entry.state, message_id=entry.message_id, detail=f"already {entry.state}")
            if entry is not None and entry.state == "failed":
                raise ApplicationError(
                    f"{request.kind.value} email to {recipient} failed before: {entry.last_error}",
                    type=SMTP_PERMANENT,
                    non_retryable=True,
                )
            pledge = session.get(Pledge, request.pledge_id)
            try:
                message = self.renderer.render(request, token_version=pledge.token_version if pledge else 1)
            except MissingContext as exc:
                raise ApplicationError(str(exc), type=CONTEXT_MISSING, non_retryable=True) from exc
            if entry is None:
                entry = SentEmail(
                    business_key=key,
                    pledge_id=request.pledge_id,
                    cycle=request.cycle,
                    kind=request.kind.value,
                    recipient=recipient,
                    message_id=str(message["Message-ID"]),
                    state="sending",
                    created_at=utcnow(),
                )
            suppression = session.get(EmailSuppression, recipient)
            if suppression is not None:
                entry.state = "skipped"
                entry.last_error = f"do-not-email: {suppression.reason}"
                session.add(entry)
                session.commit()
                return EmailOutcome(
                    state="skipped",
                    message_id=entry.message_id,
                    detail=f"{recipient} is do-not-email ({suppression.reason})",
                )
            entry.attempts += 1
            session.add(entry)
            session.commit()
        return message

    async def _deliver(self, request: EmailRequest, message: EmailMessage) -> None:
        settings = self.settings
        await aiosmtplib.send(
            message,
            # The envelope names the one recipient: nothing in a header can add another.
            sender=parseaddr(settings.mail_from)[1],
            recipients=[request.recipient.email],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )

    def _record(self, key: str, final: bool, error: str) -> None:
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, key)
            assert entry is not None
            entry.state = "failed" if final else "sending"
            entry.last_error = error
            session.add(entry)
            session.commit()

    def _record_sent(self, key: str) -> None:
        with session_for(self.settings.database_url) as session:
            entry = session.get(SentEmail, key)
            assert entry is not None
            entry.state = "sent"
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
