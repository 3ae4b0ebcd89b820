"""Rate limits counted in the registry database (pledgeflow.auth.rate_limits), on SQLite and PostgreSQL."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from pledgeflow.auth.rate_limits import RateLimited, RateLimits
from pledgeflow.core.db import session_for
from pledgeflow.core.models import RateLimitCounter
from tests.conftest import make_settings


def _limits(tmp_path: Path, database_url: str) -> RateLimits:
    return RateLimits(make_settings(tmp_path, database_url, rate_limit_submissions_per_email="3/hour"))


def test_the_limit_allows_its_amount_then_says_how_long_to_wait(tmp_path: Path, database_url: str) -> None:
    limits = _limits(tmp_path, database_url)
    client = f"{uuid.uuid4().hex}@example.org"
    for _ in range(3):
        limits.hit("submissions per email", client)
    with pytest.raises(RateLimited) as refused:
        limits.hit("submissions per email", client)
    assert 3000 < refused.value.retry_after <= 3600
    assert "at most 3 per hour" in refused.value.what
    limits.hit("submissions per email", f"other-{client}")  # another client has its own count


def test_api_processes_share_the_counts_and_count_exactly_under_concurrency(tmp_path: Path, database_url: str) -> None:
    client = f"{uuid.uuid4().hex}@example.org"
    processes = [_limits(tmp_path, database_url) for _ in range(4)]

    def attempt(number: int) -> bool:
        try:
            processes[number % 4].hit("submissions per email", client)
        except RateLimited:
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        allowed = list(pool.map(attempt, range(40)))
    assert allowed.count(True) == 3


def test_a_new_window_starts_when_the_old_one_ends(tmp_path: Path, database_url: str) -> None:
    limits = _limits(tmp_path, database_url)
    client = f"{uuid.uuid4().hex}@example.org"
    for _ in range(3):
        limits.hit("submissions per email", client)
    with session_for(database_url) as session:  # the hour passes
        for row in session.exec(select(RateLimitCounter)).all():
            row.expires_at = row.expires_at - dt.timedelta(hours=1)
            session.add(row)
        session.commit()
    limits.hit("submissions per email", client)
    limits.check("submissions per email", client)
