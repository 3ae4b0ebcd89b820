"""Reply by email (docs/email.md §5): the ``pledgeflow inbound`` SMTP receiver and what every reply goes through.

Only ``reply+TOKEN@<inbound domain>`` recipients with a valid, unrevoked token are accepted; anything else
is refused at RCPT with a 550, so a mistyped address bounces to its sender at once. An accepted message is
kept raw (``InboundMessage``), deduplicated by Message-ID, checked for auto-replies, stripped of the quoted
request, and, if what is left is long enough to be a report, signalled to the pledge's workflow, which
records it as a narrative report and confirms it by email. The provider webhook
(``api/routers/inbound.py``) hands raw MIME to the same :class:`ReplyProcessor`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
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
from pledgeflow.core.models import InboundMessage, utcnow
from pledgeflow.core.settings import Settings
from pledgeflow.inbound.reply_text import auto_reply_reason, reply_text
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
    too_short = "too_short"  # kept, but too little new text to count as a report
    pledge_closed = "pledge_closed"  # the pledge's workflow has ended; kept, nothing to signal


@dataclass(frozen=True)
class InboundResult:
    outcome: Outcome
    message_id: str
    pledge_id: str
    detail: str


class ReplyRefused(Exception):
    """No recipient of the message is a reply address with a valid token."""


class TryLater(Exception):
    """Temporal could not take the reply now; the sender (or provider) should deliver it again."""


class ReplyProcessor:
    def __init__(self, settings: Settings, pledges: PledgeClient) -> None:
        self.settings = settings
        self.pledges = pledges
        self.secret = settings.signing_key()

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

    def first_valid(self, addresses: Sequence[str]) -> ReplyClaims:
        reasons = []
        for address in addresses:
            try:
                return self.claims_for(address)
            except ReplyRefused as exc:
                reasons.append(str(exc))
        raise ReplyRefused("; ".join(reasons) or "the message names no recipient")

    async def process(self, raw: bytes, recipients: Sequence[str], envelope_sender: str | None) -> InboundResult:
        """Keep, classify and (if it is a report) signal one message; raises ReplyRefused or TryLater."""
        claims = await asyncio.to_thread(self.first_valid, recipients)
        message: EmailMessage = message_from_bytes(raw, policy=policy.default)
        message_id = _message_id(message, raw)
        sender = parseaddr(str(message.get("From", "")))[1] or envelope_sender or ""
        text = ""
        reason = auto_reply_reason(message, envelope_sender)
        if reason is not None:
            outcome, detail = Outcome.auto_reply, f"automatic reply ignored ({reason})"
        else:
            text = reply_text(message)
            if len(text) < NARRATIVE_MIN_CHARS:
                outcome = Outcome.too_short
                detail = (
                    f"kept, not counted as a report: {len(text)} characters of new text, {NARRATIVE_MIN_CHARS} needed"
                )
            else:
                outcome, detail = Outcome.accepted, f"counted as the report for cycle {claims.cycle}"
        row = InboundMessage(
            message_id=message_id,
            pledge_id=claims.pledge_id,
            sender=sender[:320],
            outcome=outcome.value,
            raw=raw,
            received_at=utcnow(),
        )
        if not await asyncio.to_thread(self._keep, row):
            return InboundResult(Outcome.duplicate, message_id, claims.pledge_id, "already received; ignored")
        if outcome is Outcome.accepted:
            reply = EmailReply(
                message_id=message_id,
                sender=sender,
                text=text[:NARRATIVE_MAX_CHARS],
                cycle=claims.cycle,
                received_at=row.received_at,
            )
            try:
                await self.pledges.reply(claims.pledge_id, reply)
            except (PledgeClosed, PledgeNotFound):
                outcome, detail = Outcome.pledge_closed, "kept; the pledge is closed and takes no more reports"
                await asyncio.to_thread(self._set_outcome, message_id, outcome)
            except (TemporalUnavailable, RPCError) as exc:
                # Anything else Temporal answers is ours to retry: forget the message, so that the
                # redelivery the sender makes is processed afresh.
                await asyncio.to_thread(self._forget, message_id)
                raise TryLater(f"the workflow engine is unavailable ({exc})") from exc
        log.info("reply %s for pledge %s from %s: %s", message_id, claims.pledge_id, sender, detail)
        return InboundResult(outcome, message_id, claims.pledge_id, detail)

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
            await asyncio.to_thread(self.processor.claims_for, address)
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
