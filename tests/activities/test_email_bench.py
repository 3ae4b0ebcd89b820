"""The email path figure pledgeflow bench reports (issue 10): both paths really send, to one sink."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, func, select

from pledgeflow.core.db import session_for
from pledgeflow.core.models import SentEmail
from pledgeflow.operations.email_bench import measure_email_path
from tests.conftest import make_settings


async def test_the_email_path_is_measured_against_raw_aiosmtplib(tmp_path: Path, database_url: str) -> None:
    cost = await measure_email_path(make_settings(tmp_path, database_url), messages=30)
    assert cost.messages == 30
    assert cost.send_path_ms > 0 and cost.raw_ms > 0
    assert cost.ratio == round(cost.send_path_ms / cost.raw_ms, 3)
    with session_for(database_url) as session:
        sent = session.exec(
            select(func.count()).where(col(SentEmail.pledge_id).like("PF-B%"), SentEmail.state == "sent")
        ).one()
    assert sent >= 30  # every message of the send path went through the ledger (earlier runs add theirs)
