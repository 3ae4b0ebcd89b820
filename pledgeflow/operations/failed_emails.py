"""E-mails that need an operator (``pledgeflow ops failed-emails`` / ``resend-failed``, docs/email.md §3).

Failed ones (the SMTP server refused them for good) and unconfirmed ones (handed over, never confirmed, so
never sent again by themselves) are read from the send ledger; a resend goes through the pledge's workflow
(its ``resend_email`` update, as ``pledgeflow ops resend`` does), so the rules and the timeline stay
there. The update id is derived from the ledger entry, so running the command twice resends once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from temporalio.service import RPCError

from pledgeflow.core.db import session_for
from pledgeflow.core.models import SentEmail, utcnow
from pledgeflow.temporal.pledge_client import PledgeClient, PledgeError
from workflows.emails import EmailKind
from workflows.state import ResendInput

NEEDING_AN_OPERATOR = ("failed", "unconfirmed")


@dataclass(frozen=True)
class ResendResult:
    pledge_id: str
    kind: str
    ok: bool
    message: str


def failed_emails(database_url: str, pledge_id: str | None = None) -> list[SentEmail]:
    """Entries not resent yet, oldest first."""
    query = select(SentEmail).where(col(SentEmail.state).in_(NEEDING_AN_OPERATOR), col(SentEmail.resent_at).is_(None))
    if pledge_id is not None:
        query = query.where(SentEmail.pledge_id == pledge_id)
    with session_for(database_url) as session:
        return list(session.exec(query.order_by(col(SentEmail.created_at))).all())


def _mark_resent(database_url: str, entries: list[SentEmail]) -> None:
    with session_for(database_url) as session:
        for entry in entries:
            row = session.get(SentEmail, entry.business_key)
            if row is not None:
                row.resent_at = utcnow()
                session.add(row)
        session.commit()


async def resend_failed(
    pledges: PledgeClient, database_url: str, entries: list[SentEmail], staff: str
) -> list[ResendResult]:
    """One resend per pledge and kind: the workflow sends that kind again to all its recipients, those that
    failed among them. A refusal (the email belongs to an earlier cycle, the pledge is closed) is reported
    and leaves the entries listed."""
    groups: dict[tuple[str, str], list[SentEmail]] = {}
    for entry in entries:
        groups.setdefault((entry.pledge_id, entry.kind), []).append(entry)
    results = []
    for (pledge_id, kind), group in groups.items():
        update_id = f"resend-failed-{group[0].business_key}"
        try:
            answer = await pledges.resend_email(
                pledge_id, ResendInput(kind=EmailKind(kind), staff=staff), update_id=update_id
            )
        except (PledgeError, RPCError) as exc:
            results.append(ResendResult(pledge_id, kind, False, str(exc)))
            continue
        _mark_resent(database_url, group)
        results.append(ResendResult(pledge_id, kind, True, answer.message))
    return results
