"""The send ledger's statements for ``send_email``: each costs one database round trip (docs/email.md §3).

``look_up`` reads in one statement what a send must know first (the key's state, a do-not-email flag, the
pledge's token version); ``claim`` commits the claim just before DATA, only if no other attempt holds or
settled the key; ``settle`` records what became of the attempt. The pool's pre-ping is off on this engine,
so a statement is one round trip: a connection the server dropped fails the attempt, which retries.

On SQLite every commit waits for the disk but the record of a message sent, which waits for the operating
system only (``synchronous=NORMAL``): it survives a killed worker, and a machine that loses power can lose
it only back to the claim, which makes the retry call the message unconfirmed, never send it again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, Engine, bindparam, create_engine, func, select
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


def ledger_engine(url: str, state: str | None = None) -> Engine:
    """The engine for reading the ledger or writing ``state`` to it."""
    if url.startswith("sqlite"):
        # One file: its WAL pragma matters more than a ping, which costs nothing there.
        return engine_for(url, "NORMAL" if state == SENT else "FULL")
    return _server_engine(url)


@lru_cache(maxsize=8)
def _server_engine(url: str) -> Engine:
    return create_engine(url, pool_size=10, max_overflow=10)


def look_up(url: str, request: EmailRequest) -> Ledger:
    parameters = {
        "business_key": request.business_key,
        "recipient": request.recipient.email.lower(),
        "pledge_id": request.pledge_id,
    }
    with ledger_engine(url).connect() as connection:
        state, last_error, claimed_at, suppressed, version = connection.execute(_LOOK_UP, parameters).one()
    # Until the registry has the pledge's row, nothing can have bumped its tokens: only version 1 exists.
    return Ledger(state, last_error, claimed_at, suppressed, version if version is not None else 1)


def claim(url: str, request: EmailRequest, message_id: str, committing: Callable[[], None] | None = None) -> bool:
    """Commit the claim of the key; False if another attempt claimed or settled it since ``look_up``.

    ``committing`` is called once the statement has run, as its commit begins to wait for the disk."""
    now = utcnow()
    parameters = {**_row(request, message_id, CLAIMED, now), "claimed_at": now}
    with ledger_engine(url, CLAIMED).begin() as connection:
        claimed = connection.execute(_statements(url).claim, parameters).first() is not None
        if committing is not None:
            committing()
    return claimed


def settle(url: str, request: EmailRequest, message_id: str, state: str, error: str | None) -> None:
    """Record how an attempt ended (one upsert: the claim may or may not have written the row). A sent entry
    keeps the answer that delayed it, for the operator; a skipped one counts no attempt."""
    now = utcnow()
    parameters = {
        **_row(request, message_id, state, now),
        "attempts": int(state != SKIPPED),
        "last_error": error,
        "sent_at": now if state == SENT else None,
    }
    with ledger_engine(url, state).begin() as connection:
        connection.execute(_statements(url).settle, parameters)


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


def _parameter(name: str) -> BindParameter[Any]:
    return bindparam(name, type_=SentEmail.__table__.c[name].type)  # type: ignore[attr-defined]


_KEY = col(SentEmail.business_key) == bindparam("business_key")
# Built once: a statement built per call costs more of the interpreter's time than the database's.
_LOOK_UP = select(
    select(col(SentEmail.state)).where(_KEY).scalar_subquery(),
    select(col(SentEmail.last_error)).where(_KEY).scalar_subquery(),
    select(col(SentEmail.claimed_at)).where(_KEY).scalar_subquery(),
    select(col(EmailSuppression.reason)).where(col(EmailSuppression.email) == bindparam("recipient")).scalar_subquery(),
    select(col(Pledge.token_version)).where(col(Pledge.id) == bindparam("pledge_id")).scalar_subquery(),
)
_ROW = ("business_key", "pledge_id", "cycle", "kind", "recipient", "message_id", "state", "attempts", "created_at")


@dataclass(frozen=True)
class _Upserts:
    claim: Any
    settle: Any


@lru_cache(maxsize=2)
def _upserts(postgres: bool) -> _Upserts:
    insert = (postgresql if postgres else sqlite).insert
    claiming = insert(SentEmail).values({name: _parameter(name) for name in (*_ROW, "claimed_at")})
    claiming = claiming.on_conflict_do_update(
        index_elements=[SentEmail.business_key],
        set_={"state": claiming.excluded.state, "claimed_at": claiming.excluded.claimed_at},
        where=col(SentEmail.state) == SENDABLE,
    ).returning(col(SentEmail.state))
    settling = insert(SentEmail).values({name: _parameter(name) for name in (*_ROW, "last_error", "sent_at")})
    settling = settling.on_conflict_do_update(
        index_elements=[SentEmail.business_key],
        set_={
            "state": settling.excluded.state,
            "last_error": func.coalesce(settling.excluded.last_error, col(SentEmail.last_error)),
            "sent_at": func.coalesce(settling.excluded.sent_at, col(SentEmail.sent_at)),
            "attempts": col(SentEmail.attempts) + settling.excluded.attempts,
        },
    )
    return _Upserts(claiming, settling)


def _statements(url: str) -> _Upserts:
    return _upserts(not url.startswith("sqlite"))
