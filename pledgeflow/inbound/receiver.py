"""Reply by email (docs/email.md §5): the ``pledgeflow inbound`` SMTP receiver and what every reply goes through.

Only ``reply+TOKEN@<inbound domain>`` recipients with a valid, unrevoked token, and ``bounce+<digest>@``
return paths of messages we sent, are accepted; anything else is refused at RCPT with a 550, so a
mistyped address bounces to its sender at once. An accepted message is kept raw (``InboundMessage``),
deduplicated by Message-ID and read (pledgeflow/inbound/reading.py): machine mail is kept and ignored, a
bounce or complaint feeds the do-not-email list (pledgeflow/inbound/bounces.py), and a person's reply,
stripped of the quoted request, its signature, greeting and the contacts' names, is signalled to the
pledge's workflow if it is long enough to be a report; the workflow records it as a narrative report and
confirms it by email, quoting what it took. The provider webhook
(``api/routers/inbound.py``) hands raw MIME to the same :class:`ReplyProcessor`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from enum import StrEnum
from typing import Any

from aiosmtpd.smtp import SMTP
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from temporalio.client import Client
from temporalio.service import RPCError

from pledgeflow.auth import reply_tokens
from pledgeflow.auth.reply_tokens import ReplyClaims
from pledgeflow.auth.revocation import current_token_version
from pledgeflow.auth.tokens import TokenError
from pledgeflow.core.db import session_for
from pledgeflow.core.models import InboundMessage, Pledge, SentEmail, utcnow
from pledgeflow.core.settings import Settings
from pledgeflow.inbound import bounces
from pledgeflow.inbound.machine_mail import Bounce
from pledgeflow.inbound.reading import read
from pledgeflow.temporal.connection import connect
from pledgeflow.temporal.pledge_client import PledgeClient, PledgeClosed, PledgeNotFound, TemporalUnavailable
from workflows.state import EmailReply
from workflows.submission import NARRATIVE_MAX_CHARS, NARRATIVE_MIN_CHARS

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
# Where providers and relays put the address a message was delivered to; To and Cc come last because a
# reply may also be copied to other people.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc")


class Outcome(StrEnum):
    accepted = "accepted"  # signalled to the pledge's workflow
    duplicate = "duplicate"  # this Message-ID was received before; nothing more done
    auto_reply = "auto_reply"  # out of office, bounce, list mail: kept, ignored
    bounce = "bounce"  # to a bounce+ return path: kept, read for the do-not-email list, never signalled
    too_short = "too_short"  # kept, but too little new text to count as a report
    unreadable = "unreadable"  # kept, but its structure cannot be read (nested past any mail client's depth)
    pledge_closed = "pledge_closed"  # the pledge's workflow has ended; kept, nothing to signal


@dataclass(frozen=True)
class InboundResult:
    outcome: Outcome
    message_id: str
    pledge_id: str
    detail: str


class ReplyRefused(Exception):
    """No recipient of the message is a reply address with a valid token, or a return path of ours."""


class MessageRefused(Exception):
    """The message cannot be read as anyone wrote it (nested past any mail client's depth): refused for good,
    so the sending server bounces it to its sender with the reason, instead of our keeping it unread."""


class TryLater(Exception):
    """Temporal could not take the reply now; the sender (or provider) should deliver it again."""


@dataclass(frozen=True)
class ReturnPath:
    """A ``bounce+<digest>@`` recipient: the message of ours it is the return path of."""

    sent: SentEmail


Target = ReplyClaims | ReturnPath


class ReplyProcessor:
    def __init__(self, settings: Settings, pledges: PledgeClient) -> None:
        self.settings = settings
        self.pledges = pledges
        self.secret = settings.signing_key()

    def target_of(self, address: str) -> Target:
        """What an address reaches: a reply token's pledge and cycle, or a message of ours it is the return path of."""
        digest = bounces.digest_in(address, self.settings.inbound_domain)
        if digest is not None:
            with session_for(self.settings.database_url) as session:
                sent = bounces.sent_message(session, digest)
            if sent is None:
                raise ReplyRefused(f"<{address}>: no message of ours has this return path")
            return ReturnPath(sent)
        return self.claims_for(address)

    def claims_for(self, address: str) -> ReplyClaims:
        """The claims of a reply address; :class:`ReplyRefused` saying why for any other address."""
        token = reply_tokens.token_in(address, self.settings.inbound_domain)
        if token is None:
            raise ReplyRefused(f"<{address}> is not a reply address of this registry")
        try:
            claims = reply_tokens.verify(self.secret, token, self.settings.report_token_days)
        except TokenError as exc:
            raise ReplyRefused(f"<{address}>: reply address {exc.args[0].removeprefix('token ')}") from exc
        with session_for(self.settings.database_url) as session:
            version = current_token_version(session, claims.pledge_id)
        if claims.version != version:
            raise ReplyRefused(f"<{address}>: reply address revoked")
        return claims

    def first_valid(self, addresses: Sequence[str]) -> Target:
        reasons = []
        for address in addresses:
            try:
                return self.target_of(address)
            except ReplyRefused as exc:
                reasons.append(str(exc))
        raise ReplyRefused("; ".join(reasons) or "the message names no recipient")

    async def process(self, raw: bytes, recipients: Sequence[str], envelope_sender: str | None) -> InboundResult:
        """Keep, classify and (if it is a report) signal one message; raises ReplyRefused or TryLater."""
        target = await asyncio.to_thread(self.first_valid, recipients)
        pledge_id = target.sent.pledge_id if isinstance(target, ReturnPath) else target.pledge_id
        names = await asyncio.to_thread(self._contact_names, pledge_id)
        reading = read(raw, envelope_sender, names)
        if reading.too_deep:
            raise MessageRefused(f"message structure too deep: {reading.unreadable}")
        message_id = _message_id(reading.message, raw)
        sender = parseaddr(str(reading.message.get("From", "")))[1] or envelope_sender or ""
        if reading.unreadable is not None:
            outcome, detail = Outcome.unreadable, f"kept, not read: {reading.unreadable}"
        elif isinstance(target, ReturnPath):
            outcome, detail = Outcome.bounce, "kept; it says nothing about a recipient of ours"
        elif reading.auto_reply is not None:
            outcome, detail = Outcome.auto_reply, f"automatic reply ignored ({reading.auto_reply})"
        elif len(reading.text) < NARRATIVE_MIN_CHARS:
            outcome = Outcome.too_short
            detail = (
                f"kept, not counted as a report: {len(reading.text)} characters of new text, "
                f"{NARRATIVE_MIN_CHARS} needed"
            )
        else:
            assert isinstance(target, ReplyClaims)
            outcome, detail = Outcome.accepted, f"counted as the report for cycle {target.cycle}"
        row = InboundMessage(
            message_id=message_id,
            pledge_id=pledge_id,
            sender=sender[:320],
            outcome=outcome.value,
            raw=raw,
            received_at=utcnow(),
        )
        if not await asyncio.to_thread(self._keep, row):
            return InboundResult(Outcome.duplicate, message_id, pledge_id, "already received; ignored")
        if reading.bounce is not None:
            sent = target.sent if isinstance(target, ReturnPath) else None
            suppressed = await asyncio.to_thread(self._record_bounce, sent, reading.bounce, message_id)
            detail = f"{detail}; {suppressed}" if outcome is not Outcome.bounce else f"kept; {suppressed}"
        if outcome is Outcome.accepted:
            assert isinstance(target, ReplyClaims)
            reply = EmailReply(
                message_id=message_id,
                sender=sender,
                text=reading.text[:NARRATIVE_MAX_CHARS],
                cycle=target.cycle,
                received_at=row.received_at,
            )
            try:
                await self.pledges.reply(pledge_id, reply)
            except (PledgeClosed, PledgeNotFound):
                outcome, detail = Outcome.pledge_closed, "kept; the pledge is closed and takes no more reports"
                await asyncio.to_thread(self._set_outcome, message_id, outcome)
            except (TemporalUnavailable, RPCError) as exc:
                # Anything else Temporal answers is ours to retry: forget the message, so that the
                # redelivery the sender makes is processed afresh.
                await asyncio.to_thread(self._forget, message_id)
                raise TryLater(f"the workflow engine is unavailable ({exc})") from exc
        log.info("inbound %s for pledge %s from %s: %s", message_id, pledge_id, sender, detail)
        return InboundResult(outcome, message_id, pledge_id, detail)

    def _contact_names(self, pledge_id: str) -> list[str]:
        """The pledge's contacts' names, which the public must never see in a reply."""
        with session_for(self.settings.database_url) as session:
            pledge = session.get(Pledge, pledge_id)
        if pledge is None:
            return []
        contacts = [pledge.submission.get("focal_point"), pledge.submission.get("backup_contact")]
        return [str(contact.get("name", "")) for contact in contacts if isinstance(contact, dict)]

    def _record_bounce(self, sent: SentEmail | None, bounce: Bounce, inbound_id: str) -> str:
        with session_for(self.settings.database_url) as session:
            sent = sent or bounces.sent_by_message_id(session, bounce.original_message_id)
            if sent is None:
                return f"a bounce for {bounce.recipient} about no message of ours: nothing suppressed"
            return bounces.record(session, sent, bounce, inbound_id, self.settings.soft_bounce_limit)

    def _keep(self, row: InboundMessage) -> bool:
        """Store the message; False if its Message-ID is already stored (a redelivery)."""
        with session_for(self.settings.database_url) as session:
            if session.get(InboundMessage, row.message_id) is not None:
                return False
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # the same message delivered twice at the same moment
                return False
        return True

    def _forget(self, message_id: str) -> None:
        with session_for(self.settings.database_url) as session:
            row = session.get(InboundMessage, message_id)
            if row is not None:
                session.delete(row)
                session.commit()

    def _set_outcome(self, message_id: str, outcome: Outcome) -> None:
        with session_for(self.settings.database_url) as session:
            row = session.get(InboundMessage, message_id)
            if row is not None:
                row.outcome = outcome.value
                session.add(row)
                session.commit()


def header_recipients(message: EmailMessage) -> list[str]:
    """The addresses a message was delivered to, from its headers (for the webhook, which has no envelope)."""
    values = [str(value) for header in RECIPIENT_HEADERS for value in message.get_all(header, [])]
    return [address for _, address in getaddresses(values) if address]


def _message_id(message: EmailMessage, raw: bytes) -> str:
    """The message's own Message-ID; without one, a digest of its bytes, so a redelivery still matches."""
    found = str(message.get("Message-ID", "")).strip()
    if not found or len(found) > 255:
        return f"<sha256-{hashlib.sha256(found.encode() or raw).hexdigest()}@inbound>"
    return found


class InboundHandler:
    """aiosmtpd hooks: refuse bad recipients at RCPT, process the message at DATA.

    Anything that is our trouble, not the sender's (the registry database down, Temporal away), answers
    451 so the sending server keeps the reply and tries again, instead of bouncing it to the pledger.
    """

    def __init__(self, processor: ReplyProcessor) -> None:
        self.processor = processor

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        try:
            await asyncio.to_thread(self.processor.target_of, address)
        except ReplyRefused as exc:
            return f"550 5.1.1 {exc}"
        except SQLAlchemyError:
            log.exception("registry database unavailable while checking %s", address)
            return "451 4.3.0 the registry is unavailable; please try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 reply address accepted"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        try:
            result = await self.processor.process(raw, envelope.rcpt_tos, envelope.mail_from)
        except ReplyRefused as exc:
            return f"550 5.1.1 {exc}"
        except MessageRefused as exc:
            return f"552 5.3.4 {exc}"
        except TryLater as exc:
            return f"451 4.3.0 {exc}; please try again later"
        except SQLAlchemyError:
            log.exception("registry database unavailable while receiving a reply")
            return "451 4.3.0 the registry is unavailable; please try again later"
        return f"250 2.0.0 {result.outcome.value}: {result.detail}"


class InboundServer:
    """The SMTP receiver on the running event loop (so it can share the Temporal client); an async context."""

    def __init__(self, settings: Settings, client: Client, host: str | None = None, port: int | None = None) -> None:
        self.settings = settings
        self.host = host or settings.inbound_host
        self.port = port if port is not None else settings.inbound_port
        self.handler = InboundHandler(ReplyProcessor(settings, PledgeClient(settings, client)))
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(
                self.handler,
                hostname=self.settings.inbound_domain,
                data_size_limit=MAX_MESSAGE_BYTES,
                enable_SMTPUTF8=True,
                loop=loop,
            ),
            host=self.host,
            port=self.port,
        )
        log.info(
            "inbound SMTP receiver on %s:%s for reply+TOKEN@%s", self.host, self.port, self.settings.inbound_domain
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> InboundServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def serve(settings: Settings) -> None:
    """Run the receiver until cancelled (``pledgeflow inbound``, ``pledgeflow dev``)."""
    client = await connect(settings)
    async with InboundServer(settings, client):
        await asyncio.Event().wait()
