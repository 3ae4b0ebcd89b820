"""The send ledger's statements for ``send_email``: each costs one database round trip (docs/email.md §3).

``look_up`` reads in one statement what a send must know first (the key's state, a do-not-email flag, the
pledge's token version); ``claim`` commits the claim just before DATA, only if no other attempt holds or
settled the key; ``settle`` records what became of the attempt. The pool's pre-ping is off on this engine,
so a statement is one round trip: a connection the server dropped fails the attempt, which retries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from pledgeflow.core.db import engine_for
from pledgeflow.core.models import EmailSuppression, Pledge, SentEmail, utcnow
from workflows.emails import EmailRequest

SENDABLE = "sending"  # tried, not delivered: the next attempt sends
CLAIMED = "claimed"
SENT = "sent"
UNCONFIRMED = "unconfirmed"
FAILED = "failed"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Ledger:
    state: str | None  # None: never tried
    last_error: str | None
    claimed_at: dt.datetime | None
    suppressed: str | None  # the do-not-email reason, if the recipient has one
    token_version: int


@lru_cache(maxsize=8)
def ledger_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return engine_for(url)  # one file: its WAL pragma matters more than a ping, which costs nothing there
    return create_engine(url, pool_size=10, max_overflow=10)


def look_up(url: str, request: EmailRequest) -> Ledger:
    key = col(SentEmail.business_key) == request.business_key
    query = select(
        select(col(SentEmail.state)).where(key).scalar_subquery(),
        select(col(SentEmail.last_error)).where(key).scalar_subquery(),
        select(col(SentEmail.claimed_at)).where(key).scalar_subquery(),
        select(col(EmailSuppression.reason))
        .where(col(EmailSuppression.email) == request.recipient.email.lower())
        .scalar_subquery(),
        select(col(Pledge.token_version)).where(col(Pledge.id) == request.pledge_id).scalar_subquery(),
    )
    with ledger_engine(url).connect() as connection:
        state, last_error, claimed_at, suppressed, version = connection.execute(query).one()
    # Until the registry has the pledge's row, nothing can have bumped its tokens: only version 1 exists.
    return Ledger(state, last_error, claimed_at, suppressed, version if version is not None else 1)


def _insert(url: str) -> Any:
    return (postgresql if not url.startswith("sqlite") else sqlite).insert(SentEmail)


def _row(request: EmailRequest, message_id: str, state: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "business_key": request.business_key,
        "pledge_id": request.pledge_id,
        "cycle": request.cycle,
        "kind": request.kind.value,
        "recipient": request.recipient.email.lower(),
        "message_id": message_id,
        "state": state,
        "attempts": 0,
        "created_at": now,
    }


def claim(url: str, request: EmailRequest, message_id: str) -> bool:
    """Commit the claim of the key; False if another attempt claimed or settled it since ``look_up``."""
    now = utcnow()
    statement = _insert(url).values({**_row(request, message_id, CLAIMED, now), "claimed_at": now})
    statement = statement.on_conflict_do_update(
        index_elements=[SentEmail.business_key],
        set_={"state": CLAIMED, "claimed_at": now},
        where=col(SentEmail.state) == SENDABLE,
    )
    with ledger_engine(url).begin() as connection:
        return connection.execute(statement.returning(col(SentEmail.state))).first() is not None


def settle(url: str, request: EmailRequest, message_id: str, state: str, error: str | None) -> None:
    """Record how an attempt ended (one upsert: the claim may or may not have written the row)."""
    now = utcnow()
    changes: dict[str, Any] = {"state": state}
    if error is not None:  # a sent entry keeps the answer that delayed it, for the operator
        changes["last_error"] = error
    if state == SENT:
        changes["sent_at"] = now
    tried = state != SKIPPED
    values = {**_row(request, message_id, state, now), **changes, "attempts": int(tried)}
    increment = {"attempts": SentEmail.attempts + 1} if tried else {}
    statement = (
        _insert(url)
        .values(values)
        .on_conflict_do_update(index_elements=[SentEmail.business_key], set_={**changes, **increment})
    )
    with ledger_engine(url).begin() as connection:
        connection.execute(statement)
