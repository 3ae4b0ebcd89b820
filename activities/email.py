"""Sending one email at most once per business key (docs/email.md §3), through aiosmtplib.

The send ledger (activities/email_ledger.py) is the idempotency guard, written around the SMTP conversation
so a retry can tell what an earlier attempt did: a "claimed" row is committed between the server's 354 and
the message, then "sent" after the server's 250. A retry that finds "sent" sends nothing;
one that finds "claimed" knows an earlier attempt may have delivered, so it never sends again (see
``_claimed``). What the server answers decides the rest: a 4xx or a connection lost before DATA is
retryable and recorded as "sending"; a 5xx is final, recorded as "failed" and raised non-retryable so it
shows in the Temporal UI, the pledge's timeline and ``pledgeflow ops failed-emails``; no answer to DATA
(a timeout) is "unconfirmed", never resent by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from aiolimiter import AsyncLimiter
from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus
from jinja2 import TemplateError
from sqlalchemy.exc import SQLAlchemyError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import email_ledger as ledger
from activities.email_render import EmailRenderer, MissingContext
from pledgeflow.core.models import utcnow
from pledgeflow.core.settings import Settings
from pledgeflow.inbound import bounces
from workflows.emails import UNCONFIRMED, EmailOutcome, EmailRequest

# ApplicationError types, so an operator (and the workflow) can tell why a send failed.
CONTEXT_MISSING = "EmailContextMissing"
TEMPLATE_BROKEN = "EmailTemplateError"
SMTP_PERMANENT = "SmtpPermanentFailure"
SMTP_TEMPORARY = "SmtpTemporaryFailure"
CLAIM_HELD = "EmailClaimHeld"  # an earlier attempt may still be talking to the server: wait for its end
LEDGER_UNWRITABLE = "EmailLedgerUnwritable"  # delivered, but "sent" could not be recorded yet

# The heartbeat detail an attempt leaves when the server accepted the message but the ledger refused the
# write: the next attempt reads it from Temporal and records "sent" instead of sending again.
DELIVERED = "delivered"
# The heartbeat detail (with the attempt's number) an attempt leaves when the ledger failed it before its
# DATA while the claim in the ledger was its own or one known to have sent nothing (the server refused
# before DATA, or could not be reached, and the claim's release could not be written): the attempt right
# after it may release the claim and send. A later one cannot know what the attempts between did.
NOT_DELIVERED = "not-delivered"


@dataclass
class _Attempt:
    number: int
    # The email's claim in the ledger, if any, is this attempt's own before its DATA, or one the attempt
    # before said sent nothing: releasing it can send nothing twice.
    claim_sent_nothing: bool


class Undecided(Exception):
    """The SMTP conversation ended without the server's answer to DATA: delivered or not, nobody can tell."""


class EmailActivities:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.renderer = EmailRenderer(settings)
        # A claim younger than this may belong to an attempt still waiting for the server's answer.
        self.claim_grace = dt.timedelta(seconds=2 * settings.smtp_timeout_seconds + 5)
        # What EHLO says: looked up once, not in a thread per message as aiosmtplib does by default.
        self.local_hostname = socket.getfqdn()
        # The worker's one message between MAIL and the server's answer to DATA (see ``_deliver``).
        self._one_at_a_time = asyncio.Lock()
        # One MAIL per 1/rate seconds, never a burst (docs/email.md §4): Temporal's limit on the task queue
        # holds the rate across workers but hands a second's worth of sends over at once. Connections are
        # opened at the same pace, so such a burst does not leave dozens of them waiting for their turn.
        self._connect_pace = AsyncLimiter(1, 1 / settings.email_rate_per_second)
        self._mail_pace = AsyncLimiter(1, 1 / settings.email_rate_per_second)

    @activity.defn
    async def send_email(self, request: EmailRequest) -> EmailOutcome:
        message_id = self.renderer.message_id(request)
        info = activity.info()
        attempt = _Attempt(info.attempt, list(info.heartbeat_details) == [NOT_DELIVERED, info.attempt - 1])
        try:
            return await self._send(request, message_id, attempt)
        except SQLAlchemyError as exc:
            if attempt.claim_sent_nothing:
                activity.heartbeat(NOT_DELIVERED, attempt.number)
            raise ApplicationError(
                f"the send ledger is unavailable ({type(exc).__name__}); will retry", type=LEDGER_UNWRITABLE
            ) from exc

    async def _send(self, request: EmailRequest, message_id: str, attempt: _Attempt) -> EmailOutcome:
        url = self.settings.database_url
        await self._connect_pace.acquire()
        smtp = self._smtp()
        # The connection and EHLO take round trips the look-up and the render need not wait for.
        connecting = asyncio.create_task(_open(smtp))
        try:
            found, message = await asyncio.to_thread(self._look_up_and_render, request)
        except BaseException:
            await _hang_up(connecting, smtp)
            raise
        if message is None:
            await _hang_up(connecting, smtp)
            return await self._not_sending(request, message_id, found, attempt)
        try:
            delivered = await self._deliver(request, message, smtp, connecting, attempt)
        except Undecided as exc:
            reason = f"{UNCONFIRMED}: {exc}; not sent again"
            activity.logger.error("email %s %s", request.business_key, reason)
            await asyncio.to_thread(ledger.settle, url, request, message_id, ledger.UNCONFIRMED, reason)
            return EmailOutcome(state="sent", message_id=message_id, detail=reason)
        except aiosmtplib.SMTPException as exc:
            code, reason = _smtp_answer(exc)
            await self._refused(request, message_id, code, reason)
            raise ApplicationError(f"SMTP delivery will be retried: {reason}", type=SMTP_TEMPORARY) from exc
        except OSError as exc:
            lost = f"connection: {exc}"
            await asyncio.to_thread(ledger.settle, url, request, message_id, ledger.SENDABLE, lost)
            raise ApplicationError(f"SMTP server unreachable, will retry: {exc}", type=SMTP_TEMPORARY) from exc
        if delivered is None:
            raise ApplicationError("another attempt claimed this email first", type=CLAIM_HELD)
        return delivered

    async def _not_sending(
        self, request: EmailRequest, message_id: str, found: ledger.Ledger, attempt: _Attempt
    ) -> EmailOutcome:
        """The ledger or the do-not-email list decided: this attempt sends nothing."""
        if found.state == ledger.CLAIMED:
            return await self._claimed(request, message_id, found, attempt)
        decided = self._decided(request, message_id, found)
        if decided is not None:
            return decided
        await asyncio.to_thread(ledger.settle, self.settings.database_url, request, message_id, ledger.SKIPPED, None)
        return EmailOutcome(
            state="skipped",
            message_id=message_id,
            detail=f"{request.recipient.email.lower()} is do-not-email ({found.suppressed})",
        )

    def _look_up_and_render(self, request: EmailRequest) -> tuple[ledger.Ledger, EmailMessage | None]:
        """The ledger's answer, and the message if it is to be sent: one round trip, one render."""
        found = ledger.look_up(self.settings.database_url, request)
        if found.state not in {None, ledger.SENDABLE} or found.suppressed is not None:
            return found, None
        try:
            return found, self.renderer.render(request, token_version=found.token_version)
        except MissingContext as exc:
            raise ApplicationError(str(exc), type=CONTEXT_MISSING, non_retryable=True) from exc
        except TemplateError as exc:  # a retry renders the same template the same way
            raise ApplicationError(
                f"{request.kind.value} email cannot be rendered: {exc}", type=TEMPLATE_BROKEN, non_retryable=True
            ) from exc

    def _decided(self, request: EmailRequest, message_id: str, found: ledger.Ledger) -> EmailOutcome | None:
        if found.state in {ledger.SENT, ledger.SKIPPED}:
            return EmailOutcome(state=found.state, message_id=message_id, detail=f"already {found.state}")
        if found.state == ledger.UNCONFIRMED:
            return EmailOutcome(state="sent", message_id=message_id, detail=found.last_error or UNCONFIRMED)
        if found.state == ledger.FAILED:
            raise ApplicationError(
                f"{request.kind.value} email to {request.recipient.email.lower()} failed before: {found.last_error}",
                type=SMTP_PERMANENT,
                non_retryable=True,
            )
        return None

    async def _claimed(
        self, request: EmailRequest, message_id: str, found: ledger.Ledger, attempt: _Attempt
    ) -> EmailOutcome:
        """An earlier attempt claimed the key and did not say how it ended: never send it again.

        If that attempt saw the server's 250 but could not write "sent", its heartbeat says so: record it.
        If the attempt just before this one says the claim sent nothing, release it and send.
        If the claim is younger than the SMTP timeout allows, the attempt may still be waiting for the
        server: retry later. Older, it died between its claim and its record: "unconfirmed"."""
        details = activity.info().heartbeat_details
        if details and details[0] == DELIVERED:
            return await self._record_sent(request, message_id, None)
        if attempt.claim_sent_nothing:
            reason = "released: the attempt before sent nothing"
            await asyncio.to_thread(
                ledger.settle, self.settings.database_url, request, message_id, ledger.SENDABLE, reason
            )
            return await self._send(request, message_id, attempt)
        claimed_at = found.claimed_at or utcnow()
        if utcnow() - claimed_at < self.claim_grace:
            raise ApplicationError(
                f"an earlier attempt claimed this email at {claimed_at.isoformat()} and may still be sending it",
                type=CLAIM_HELD,
            )
        reason = f"{UNCONFIRMED}: the attempt claiming it at {claimed_at.isoformat()} ended unrecorded; not sent again"
        activity.logger.error("email %s %s", request.business_key, reason)
        await asyncio.to_thread(
            ledger.settle, self.settings.database_url, request, message_id, ledger.UNCONFIRMED, reason
        )
        return EmailOutcome(state="sent", message_id=message_id, detail=reason)

    async def _record_sent(self, request: EmailRequest, message_id: str, error: str | None) -> EmailOutcome:
        try:
            await asyncio.to_thread(ledger.settle, self.settings.database_url, request, message_id, ledger.SENT, error)
        except SQLAlchemyError as exc:
            activity.heartbeat(DELIVERED)  # the next attempt learns it from Temporal, not from the ledger
            raise ApplicationError(
                f"delivered, but the send ledger cannot record it yet ({type(exc).__name__}); not sent again",
                type=LEDGER_UNWRITABLE,
            ) from exc
        return EmailOutcome(state="sent", message_id=message_id)

    async def _refused(self, request: EmailRequest, message_id: str, code: int, reason: str) -> None:
        final = code >= 500
        state = ledger.FAILED if final else ledger.SENDABLE
        await asyncio.to_thread(ledger.settle, self.settings.database_url, request, message_id, state, reason)
        if final:
            activity.logger.error("email %s refused for good: %s", request.business_key, reason)
            raise ApplicationError(
                f"SMTP server refused {request.kind.value} email to {request.recipient.email}: {reason}",
                type=SMTP_PERMANENT,
                non_retryable=True,
            )

    def _smtp(self) -> aiosmtplib.SMTP:
        settings = self.settings
        return aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
            local_hostname=self.local_hostname,
        )

    async def _deliver(
        self,
        request: EmailRequest,
        message: EmailMessage,
        smtp: aiosmtplib.SMTP,
        connecting: asyncio.Task[Any],
        attempt: _Attempt,
    ) -> EmailOutcome | None:
        """The SMTP conversation, with the claim committed before DATA, and "sent" recorded after the 250;
        None if another attempt claimed the email first.

        From MAIL until its outcome is recorded, the worker handles one message at a time. A worker killed
        between a claim and the answer to DATA leaves that message claimed with nobody to say whether it
        arrived, so it is never sent again; one message at a time, a kill strands at most that one instead of
        every message of a burst that was between its claim and its DATA. Connecting and EHLO go on beside
        it, and no claimed message waits: the wait comes before MAIL, so a server that drops the idle
        connection meanwhile fails the attempt before its claim, and it is sent again.
        """
        message_id = str(message["Message-ID"])
        try:
            await connecting
        except BaseException:
            smtp.close()
            raise
        async with self._one_at_a_time:
            # Each 250 is recorded before the next MAIL, and MAILs are 1/rate apart: no second at the server
            # holds more than the rate (and one).
            await self._mail_pace.acquire()
            # Once begun, the conversation runs to its recorded outcome even when the activity is cancelled
            # (a worker stopping): cut short between the claim and the record, it would leave the message
            # claimed with nobody to say whether it went, and the retry would have to call it unconfirmed.
            # Each of its steps is bounded by the SMTP timeout, so the cancellation waits that long at most.
            conversation = asyncio.ensure_future(self._converse(request, message, smtp, message_id, attempt))
            try:
                return await asyncio.shield(conversation)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await conversation  # its outcome is in the ledger for the retry to find
                raise

    async def _converse(
        self, request: EmailRequest, message: EmailMessage, smtp: aiosmtplib.SMTP, message_id: str, attempt: _Attempt
    ) -> EmailOutcome | None:
        try:
            claimed = await self._transaction(request, message, smtp, message_id, attempt)
        except BaseException:
            smtp.close()
            raise
        if not claimed:
            return None
        # The goodbye and the ledger's record go together, and how the goodbye goes changes nothing.
        quitting = asyncio.create_task(_quit(smtp))
        try:
            return await self._record_sent(request, message_id, None)
        finally:
            await quitting

    async def _transaction(
        self, request: EmailRequest, message: EmailMessage, smtp: aiosmtplib.SMTP, message_id: str, attempt: _Attempt
    ) -> bool:
        """MAIL, RCPT, the claim and DATA: True once the server took the message."""
        eight_bit = smtp.supports_extension("8BITMIME")
        # The envelope names the one recipient: nothing in a header can add another. Its sender is
        # this message's own return path (VERP), so a bounce says which message and recipient failed.
        await smtp.mail(
            bounces.return_path(message_id, self.settings.inbound_domain),
            options=["BODY=8BITMIME"] if eight_bit else [],
        )
        await smtp.rcpt(request.recipient.email)
        ready = await smtp.execute_command(b"DATA")
        if ready.code != SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(ready.code, ready.message)
        # The server waits for the message now. The claim comes here, between its 354 and the message, so the
        # window a killed worker leaves unknowable (claimed, and maybe delivered) is the handing of the message
        # to the socket alone: killed before the claim, the server drops the unfinished transaction and the
        # retry sends afresh; killed once the message is written, the kernel still delivers it.
        attempt.claim_sent_nothing = True  # whatever the claim's commit answers, until the message goes
        block = await self._claim(request, message, message_id, "8bit" if eight_bit else "7bit")
        if block is None:
            smtp.close()
            return False
        attempt.claim_sent_nothing = False
        try:
            answer = await _send_data_block(smtp, block)
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected) as exc:  # _deliver hangs up
            raise Undecided(f"{type(exc).__name__} while waiting for the answer to DATA ({exc})") from exc
        if answer.code != SMTPStatus.completed:
            attempt.claim_sent_nothing = True  # the server answered, and it refused the message
            raise aiosmtplib.SMTPDataError(answer.code, answer.message)
        return True

    async def _claim(
        self, request: EmailRequest, message: EmailMessage, message_id: str, cte_type: str
    ) -> bytes | None:
        """Commit the claim; the message as DATA carries it if the claim was granted, None if it was refused.

        The message is flattened while the claim's commit waits for the disk (its thread lets go of the
        interpreter then), so the one costs no more than the other; nothing is written before the commit
        has returned. The flatten waits for the commit to begin: started at once, it would hold the
        interpreter while the claim's thread waits to run its statement."""
        loop = asyncio.get_running_loop()
        committing: asyncio.Future[None] = loop.create_future()
        claiming = loop.run_in_executor(
            None, ledger.claim, self.settings.database_url, request, message_id, lambda: _tell(loop, committing)
        )
        waits: list[asyncio.Future[Any]] = [committing, claiming]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        try:
            block = _data_block(flatten_message(message, cte_type=cte_type))
        except BaseException as exc:  # nothing was written after the 354: release the claim, if it took
            if await claiming:
                reason = f"not sent: the message could not be written ({type(exc).__name__})"
                await asyncio.to_thread(
                    ledger.settle, self.settings.database_url, request, message_id, ledger.SENDABLE, reason
                )
            raise
        return block if await claiming else None


def _tell(loop: asyncio.AbstractEventLoop, began: asyncio.Future[None]) -> None:
    """From the claim's thread: its commit has begun."""

    def begun() -> None:
        if not began.done():
            began.set_result(None)

    loop.call_soon_threadsafe(begun)


def _data_block(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, a leading dot doubled, and the closing dot line."""
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(message)) + b".\r\n"


async def _send_data_block(smtp: aiosmtplib.SMTP, block: bytes) -> SMTPResponse:
    """What ``SMTP.data`` does after the server's 354: write the message, read the server's answer (the
    write and the read's start have no await between them, so the answer cannot arrive unawaited)."""
    protocol = smtp.protocol
    if protocol is None:
        raise aiosmtplib.SMTPServerDisconnected("Connection lost")
    protocol.write(block)
    return await protocol.read_response(timeout=smtp.timeout)


async def _open(smtp: aiosmtplib.SMTP) -> None:
    await smtp.connect()
    if smtp.is_ehlo_or_helo_needed:
        await smtp.ehlo()


async def _hang_up(connecting: asyncio.Task[Any], smtp: aiosmtplib.SMTP) -> None:
    """Drop the connection opened in case the message would go: nothing was asked of the server yet."""
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiosmtplib.SMTPException, OSError):
        await connecting
    smtp.close()


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.quit()
    except aiosmtplib.SMTPException:
        smtp.close()


def _smtp_answer(exc: aiosmtplib.SMTPException) -> tuple[int, str]:
    """The SMTP reply code (0 when the server gave none, e.g. a timeout) and a line saying what happened."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refusals = exc.recipients
        code = min((refusal.code for refusal in refusals), default=0)
        return code, "; ".join(f"{refusal.code} {refusal.message}" for refusal in refusals)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code, f"{exc.code} {exc.message}"
    return 0, f"{type(exc).__name__}: {exc}"
