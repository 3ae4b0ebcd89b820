"""Staff browser sessions kept server-side (``StaffSession``), as OWASP's session management cheat sheet asks:
a random id in the cookie and only its hash in the table; a new id at every login; an idle timeout and an
absolute lifetime checked by the server; logout, deactivation and key rotation end them at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, update

from pledgeflow.core.models import StaffAccount, StaffSession, utcnow

# A request within this long of the last one does not write last_seen_at again: one write a minute at most.
TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetime:
    idle: dt.timedelta
    absolute: dt.timedelta


@dataclass(frozen=True)
class LiveSession:
    row: StaffSession
    account: StaffAccount


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(db: Session, account: StaffAccount) -> tuple[str, StaffSession]:
    """A new session for ``account``: its id (for the cookie, never stored) and its row."""
    assert account.id is not None
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    row = StaffSession(
        id_hash=_hash(session_id),
        account_id=account.id,
        key_prefix=account.key_prefix,
        csrf_secret=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
    )
    db.add(row)
    db.commit()
    return session_id, row


def live_session(db: Session, session_id: str, lifetime: Lifetime) -> LiveSession | None:
    """The session this id opens now, or None: unknown, ended, idle too long, too old, or its account
    deactivated or given a new key since."""
    if not session_id or len(session_id) > 100:
        return None
    row = db.get(StaffSession, _hash(session_id))
    if row is None or row.ended_at is not None:
        return None
    now = utcnow()
    account = db.get(StaffAccount, row.account_id)
    if (
        account is None
        or not account.active
        or account.key_prefix != row.key_prefix
        or now - row.last_seen_at > lifetime.idle
        or now - row.created_at > lifetime.absolute
    ):
        end(db, session_id)
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
        db.add(row)
        db.commit()
    return LiveSession(row, account)


def end(db: Session, session_id: str) -> None:
    row = db.get(StaffSession, _hash(session_id))
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        db.add(row)
        db.commit()


def end_all(db: Session, account_id: int) -> int:
    """End every open session of an account (deactivation, a new key); how many were open."""
    result = db.execute(
        update(StaffSession)
        .where(col(StaffSession.account_id) == account_id, col(StaffSession.ended_at).is_(None))
        .values(ended_at=utcnow())
    )
    db.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
