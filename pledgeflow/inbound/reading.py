"""Reading one raw message as the inbound receiver does: a machine's or a person's, what a bounce says, what counts.

One function for the receiver, the webhook, ``pledgeflow inbound check`` and the corpus figures, so what an
operator checks and what the benchmark measures is exactly what the receiver does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parseaddr

from pledgeflow.inbound.machine_mail import Bounce, bounce_of, machine_reason
from pledgeflow.inbound.publication import publishable
from pledgeflow.inbound.reply_text import body_text, own_text

MAX_DEPTH = 30  # MIME parts nested deeper than any mail client writes: kept, not read


@dataclass(frozen=True)
class Reading:
    message: EmailMessage
    auto_reply: str | None  # why a machine wrote it, or None for a person
    bounce: Bounce | None  # what a bounce or complaint says, when it is one
    own_text: str  # the sender's own lines: quotes and signature removed
    text: str  # what would be recorded: own_text without greeting, sign-off and the contact's names
    unreadable: str | None = None  # why the message could not be read at all
    too_deep: bool = False  # nested past MAX_DEPTH: the receiver refuses it, so the sender learns at once


def parse(raw: bytes) -> EmailMessage:
    message: EmailMessage = message_from_bytes(raw, policy=policy.default)
    return message


def read(raw: bytes, envelope_sender: str | None = None, names: Sequence[str] = ()) -> Reading:
    """Classify and extract one message; never raises for what a sender can put in a message."""
    try:
        message = parse(raw)
        depth = _depth(message)
    except RecursionError:
        depth = MAX_DEPTH + 1
    if depth > MAX_DEPTH:
        # Only the top headers, read without descending into the parts: enough to keep it and say why.
        headers: EmailMessage = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        return Reading(headers, None, None, "", "", f"MIME parts nested more than {MAX_DEPTH} deep", too_deep=True)
    reason = machine_reason(message, envelope_sender)
    if reason is not None:
        return Reading(message, reason, bounce_of(message), "", "")
    try:
        own = own_text(body_text(message))
    except (RecursionError, ValueError, LookupError, TypeError, AssertionError) as exc:
        return Reading(message, None, None, "", "", f"body unreadable ({type(exc).__name__}: {exc})")
    sender_name = parseaddr(str(message.get("From", "")))[0]
    return Reading(message, None, None, own, publishable(own, [*names, sender_name]))


def _depth(message: EmailMessage) -> int:
    deepest = 0
    queue = [(message, 0)]
    while queue:
        part, depth = queue.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        payload = part.get_payload() if part.is_multipart() else None
        if isinstance(payload, list):
            queue.extend((child, depth + 1) for child in payload if isinstance(child, EmailMessage))
    return deepest
