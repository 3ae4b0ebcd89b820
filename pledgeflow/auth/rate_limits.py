"""Rate limits with the ``limits`` library, counted in the registry database so every API process shares them.

The library supplies the rate notation (``"5/hour"``) and the fixed-window strategy; its storages are Redis,
memcached, MongoDB or process memory, so :class:`DatabaseCounters` is one more storage on the table
``RateLimitCounter``: one row per limit and client, reset atomically (an upsert) when its window ends.
Clients are kept only as a hash (an address or an email is nobody's business in this table).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from pledgeflow.core.db import engine_for, session_for
from pledgeflow.core.models import RateLimitCounter, UTCDateTime, utcnow
from pledgeflow.core.settings import Settings

_table: Any = RateLimitCounter.__table__  # type: ignore[attr-defined]


class DatabaseCounters(Storage):
    """A ``limits`` storage for fixed windows on the registry database (SQLite or PostgreSQL)."""

    STORAGE_SCHEME = ["pledgeflow-registry"]

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.database_url = database_url

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = utcnow()
        ends = literal(now + dt.timedelta(seconds=expiry), UTCDateTime())
        ended = _table.c.expires_at <= literal(now, UTCDateTime())
        dialect = postgresql if self.database_url.startswith("postgresql") else sqlite
        statement = dialect.insert(_table).values(key=key, count=amount, expires_at=ends)
        statement = statement.on_conflict_do_update(
            index_elements=["key"],
            set_={
                "count": case((ended, amount), else_=_table.c.count + amount),
                "expires_at": case((ended, ends), else_=_table.c.expires_at),
            },
        ).returning(_table.c.count)
        with engine_for(self.database_url).begin() as connection:
            count = int(connection.execute(statement).scalar_one())
            if count == amount:  # a window began: clear what ended long ago, so the table stays small
                connection.execute(delete(_table).where(_table.c.expires_at < now - dt.timedelta(days=1)))
        return count

    def get(self, key: str) -> int:
        row = self._row(key)
        return row.count if row is not None and row.expires_at > utcnow() else 0

    def get_expiry(self, key: str) -> float:
        row = self._row(key)
        return (row.expires_at if row is not None else utcnow()).timestamp()

    def check(self) -> bool:
        try:
            with session_for(self.database_url) as session:
                session.execute(select(func.count()).select_from(_table))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with engine_for(self.database_url).begin() as connection:
            return int(connection.execute(delete(_table)).rowcount)

    def clear(self, key: str) -> None:
        with engine_for(self.database_url).begin() as connection:
            connection.execute(delete(_table).where(_table.c.key == key))

    def _row(self, key: str) -> RateLimitCounter | None:
        with session_for(self.database_url) as session:
            return session.get(RateLimitCounter, key)


@dataclass(frozen=True)
class RateLimited(Exception):
    """Over the limit: ``retry_after`` seconds until it allows again."""

    what: str
    retry_after: int


class RateLimits:
    """The deployment's limits by name (the settings ``PLEDGEFLOW_RATE_LIMIT_*``)."""

    def __init__(self, settings: Settings) -> None:
        self._limiter = FixedWindowRateLimiter(DatabaseCounters(settings.database_url))
        self._items: dict[str, RateLimitItem] = {
            "submissions per address": parse(settings.rate_limit_submissions_per_address),
            "submissions per email": parse(settings.rate_limit_submissions_per_email),
            "staff sign-ins per address": parse(settings.rate_limit_staff_login),
            "bad staff keys per address": parse(settings.rate_limit_bad_staff_keys),
            "inbound webhook calls per address": parse(settings.rate_limit_inbound_webhook),
        }

    def hit(self, limit: str, client: str) -> None:
        """Count one request of ``client``; raise :class:`RateLimited` once it is over the limit."""
        item = self._items[limit]
        if not self._limiter.hit(item, limit, _anonymous(client)):
            raise self._limited(limit, client)

    def check(self, limit: str, client: str) -> None:
        """Raise :class:`RateLimited` if ``client`` is already over the limit, counting nothing."""
        if not self._limiter.test(self._items[limit], limit, _anonymous(client)):
            raise self._limited(limit, client)

    def _limited(self, limit: str, client: str) -> RateLimited:
        item = self._items[limit]
        stats = self._limiter.get_window_stats(item, limit, _anonymous(client))
        wait = max(1, math.ceil(stats.reset_time - utcnow().timestamp()))
        return RateLimited(f"too many {limit} (at most {item.amount} per {_window(item)})", wait)


def _anonymous(client: str) -> str:
    return hashlib.sha256(client.strip().lower().encode()).hexdigest()[:32]


def _window(item: RateLimitItem) -> str:
    unit = type(item).__name__.removeprefix("RateLimitItemPer").lower()
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
