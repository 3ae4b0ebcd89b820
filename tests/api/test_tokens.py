"""Tokens (docs/api.md §4): signed, expiring, single-purpose, scoped to one pledge (and one cycle), revocable."""

from __future__ import annotations

import time

import pytest
from itsdangerous import TimestampSigner
from sqlmodel import select

from pledgeflow.auth.staff_keys import Role
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from pledgeflow.core import ids
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge, StaffAccount
from tests.api.conftest import bearer, submit, wait_for_row
from tests.conftest import Stack
from tests.factories import submission_data


def _bump_token_version(database_url: str, pledge_id: str) -> None:
    with session_for(database_url) as session:
        row = session.exec(select(Pledge).where(Pledge.id == pledge_id)).one()
        row.token_version += 1
        session.add(row)
        session.commit()


async def test_revoked_token_is_refused_and_a_retried_submission_hands_out_none(stack: Stack) -> None:
    key = {"Idempotency-Key": "revocation-test"}
    first = await stack.http.post("/api/v1/pledges", json=submission_data(), headers=key)
    old = first.json()
    await wait_for_row(stack.settings.database_url, old["id"])
    assert (
        await stack.http.get(f"/api/v1/pledges/{old['id']}", headers=bearer(old["manage_token"]))
    ).status_code == 200

    _bump_token_version(stack.settings.database_url, old["id"])

    revoked = await stack.http.get(f"/api/v1/pledges/{old['id']}", headers=bearer(old["manage_token"]))
    assert revoked.status_code == 401
    assert revoked.json()["detail"] == "token revoked"
    assert revoked.headers["WWW-Authenticate"] == "Bearer"

    # Whoever holds the key (and the body) gets no working link once the pledge's links were revoked.
    again = await stack.http.post("/api/v1/pledges", json=submission_data(), headers=key)
    assert again.status_code == 409, again.text
    assert "manage_token" not in again.json()
    assert "revoked" in again.json()["detail"]


async def test_expired_manage_token_is_401_saying_so(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    pledge = await submit(stack.http)
    long_ago = int(time.time()) - (stack.settings.manage_token_days + 1) * 86_400
    with monkeypatch.context() as patched:
        patched.setattr(TimestampSigner, "get_timestamp", lambda _self: long_ago)
        expired = issue(stack.settings.signing_key(), TokenClaims(pledge.id, Purpose.manage, 1))
    response = await stack.http.get(f"/api/v1/pledges/{pledge.id}", headers=bearer(expired))
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"


async def test_tokens_are_single_purpose(stack: Stack) -> None:
    pledge = await submit(stack.http)
    secret = stack.settings.signing_key()
    report_link = issue(secret, TokenClaims(pledge.id, Purpose.report, 1, cycle=1))
    read = await stack.http.get(f"/api/v1/pledges/{pledge.id}", headers=bearer(report_link))
    assert read.status_code == 403
    withdraw = await stack.http.post(f"/api/v1/pledges/{pledge.id}/withdrawal", json={}, headers=bearer(report_link))
    assert withdraw.status_code == 403
    assert "cannot be used" in withdraw.json()["detail"]
    # A report token without a cycle was never issued by Pledgeflow: bad credentials.
    cycleless = issue(secret, TokenClaims(pledge.id, Purpose.report, 1))
    report = await stack.http.post(f"/api/v1/pledges/{pledge.id}/reports", json={}, headers=bearer(cycleless))
    assert report.status_code == 401


async def test_tokens_signed_with_another_secret_or_mangled_are_401(stack: Stack) -> None:
    pledge = await submit(stack.http)
    foreign = issue(b"someone else's secret", TokenClaims(pledge.id, Purpose.manage, 1))
    for token in (foreign, pledge.token[:-3] + "abc", "pfs_nothere_atall", "pfs_"):
        response = await stack.http.get(f"/api/v1/pledges/{pledge.id}", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.headers["content-type"] == "application/problem+json"


async def test_inactive_staff_key_is_401(stack: Stack, staff_keys: dict[Role, str]) -> None:
    with session_for(stack.settings.database_url) as session:
        prefix = staff_keys[Role.admin].split("_")[1]
        account = session.exec(select(StaffAccount).where(StaffAccount.key_prefix == prefix)).one()
        account.active = False
        session.add(account)
        session.commit()
    response = await stack.http.get("/api/v1/review/queue", headers=bearer(staff_keys[Role.admin]))
    assert response.status_code == 401


async def test_a_valid_token_for_a_pledge_that_does_not_exist_is_404(stack: Stack) -> None:
    ghost = ids.new_pledge_id()
    token = issue(stack.settings.signing_key(), TokenClaims(ghost, Purpose.manage, 1))
    response = await stack.http.get(f"/api/v1/pledges/{ghost}", headers=bearer(token))
    assert response.status_code == 404
    assert ghost in response.json()["detail"]
