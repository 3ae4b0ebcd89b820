"""Registry times: stored in UTC and read back timezone-aware in UTC, on SQLite and on PostgreSQL alike,
so that no reader has to mend what the database hands back."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.exc import StatementError
from sqlmodel import col, select

from pledgeflow.core.db import session_for
from pledgeflow.core.models import EmailSuppression

NAIROBI = dt.timezone(dt.timedelta(hours=3))


def _suppression(created_at: dt.datetime) -> EmailSuppression:
    return EmailSuppression(email=f"{uuid.uuid4().hex}@example.org", reason="hard bounce", created_at=created_at)


def test_a_time_comes_back_aware_in_utc_whatever_zone_it_was_written_in(database_url: str) -> None:
    written = dt.datetime(2027, 3, 14, 12, 30, tzinfo=NAIROBI)
    with session_for(database_url) as session:
        row = _suppression(written)
        session.add(row)
        session.commit()
    with session_for(database_url) as session:
        read = session.get(EmailSuppression, row.email)
    assert read is not None
    assert read.created_at == written
    assert read.created_at.tzinfo == dt.UTC
    assert read.created_at.hour == 9


def test_comparisons_in_queries_hold_across_zones(database_url: str) -> None:
    """SQLite compares the stored text: a time given in another zone must still land in the right order."""
    marker = uuid.uuid4().hex
    utc_nine = dt.datetime(2027, 3, 14, 9, 0, tzinfo=dt.UTC)
    with session_for(database_url) as session:
        row = EmailSuppression(email=f"{marker}@example.org", reason="complaint", created_at=utc_nine)
        session.add(row)
        session.commit()
        ten_in_nairobi = dt.datetime(2027, 3, 14, 10, 0, tzinfo=NAIROBI)  # 07:00 UTC, before the row
        later = session.exec(
            select(EmailSuppression.email).where(
                col(EmailSuppression.email) == row.email, col(EmailSuppression.created_at) > ten_in_nairobi
            )
        ).all()
    assert later == [row.email]


def test_a_naive_time_is_refused_rather_than_guessed(database_url: str) -> None:
    with session_for(database_url) as session:
        session.add(_suppression(dt.datetime(2027, 3, 14, 12, 30)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()
