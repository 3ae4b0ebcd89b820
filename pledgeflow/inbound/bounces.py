"""Bounces and complaints feed the do-not-email list (docs/email.md §6).

Every message leaves with its own return path, ``bounce+<digest>@<inbound domain>``, where the digest is
that of its Message-ID, so a bounce names the message (and through the send ledger, the recipient) even
when the bouncing server rewrote every address in it. A hard bounce or an abuse complaint makes the
recipient do-not-email at once, with the reason; soft bounces are counted, and ``PLEDGEFLOW_SOFT_BOUNCE_LIMIT``
of them in a row (the last messages to that address, each bounced) do the same. A bounce for a message we
never sent changes nothing.
"""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from pledgeflow.core.models import EmailBounce, EmailSuppression, SentEmail, utcnow
from pledgeflow.inbound.machine_mail import Bounce, BounceKind

PREFIX = "bounce+"
_DIGEST = re.compile(r"^[0-9a-f]{32}$")


def return_path(message_id: str, inbound_domain: str) -> str:
    """The VERP address of one outgoing message, from its ``<digest@domain>`` Message-ID."""
    digest = message_id.strip("<>").split("@", 1)[0]
    return f"{PREFIX}{digest}@{inbound_domain}"


def digest_in(address: str, inbound_domain: str) -> str | None:
    """The digest of a ``bounce+<digest>@<inbound domain>`` address, or None for any other address."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if domain.lower() != inbound_domain.lower() or not local.lower().startswith(PREFIX):
        return None
    digest = local[len(PREFIX) :].lower()
    return digest if _DIGEST.match(digest) else None


def sent_message(session: Session, digest: str) -> SentEmail | None:
    """The ledger entry of the message whose Message-ID has this digest."""
    return session.exec(select(SentEmail).where(col(SentEmail.message_id).startswith(f"<{digest}@"))).first()


def sent_by_message_id(session: Session, message_id: str | None) -> SentEmail | None:
    if not message_id:
        return None
    return session.exec(select(SentEmail).where(SentEmail.message_id == message_id.strip())).first()


def record(session: Session, sent: SentEmail, bounce: Bounce, inbound_message_id: str, soft_limit: int) -> str:
    """Keep the bounce and suppress its recipient if it calls for it; what was done, in words."""
    recipient = sent.recipient.lower()
    session.add(
        EmailBounce(
            message_id=sent.message_id,
            inbound_message_id=inbound_message_id,
            pledge_id=sent.pledge_id,
            recipient=recipient,
            kind=bounce.kind.value,
            status=bounce.status,
            action=bounce.action,
            detail=bounce.detail or None,
            received_at=utcnow(),
        )
    )
    session.flush()
    if bounce.kind is BounceKind.complaint:
        reason = f"complaint ({bounce.status.removeprefix('complaint: ')})"
    elif bounce.kind is BounceKind.hard:
        reason = f"hard bounce {bounce.status}"
    else:
        in_a_row = soft_bounces_in_a_row(session, sent)
        if in_a_row < soft_limit:
            session.commit()
            return f"soft bounce {bounce.status} of {recipient} counted ({in_a_row} of {soft_limit} in a row)"
        reason = f"{in_a_row} soft bounces in a row ({bounce.status})"
    already = session.get(EmailSuppression, recipient)
    if already is None:
        session.add(EmailSuppression(email=recipient, reason=reason[:64], created_at=utcnow()))
    session.commit()
    return f"{recipient} is do-not-email: {reason}" if already is None else f"{recipient} was already do-not-email"


def soft_bounces_in_a_row(session: Session, sent: SentEmail) -> int:
    """Messages to this recipient, from this one back, that each soft-bounced, until one that did not."""
    messages = session.exec(
        select(SentEmail)
        .where(SentEmail.recipient == sent.recipient, SentEmail.state == "sent")
        .order_by(col(SentEmail.sent_at).desc())
    ).all()
    bounced = set(
        session.exec(
            select(EmailBounce.message_id).where(
                EmailBounce.recipient == sent.recipient.lower(), EmailBounce.kind == BounceKind.soft.value
            )
        ).all()
    )
    count, counting = 0, False
    for message in messages:
        counting = counting or message.message_id == sent.message_id
        if not counting:
            continue
        if message.message_id not in bounced:
            break
        count += 1
    return count
