"""Rate limits (issue 13): 429 with Retry-After on submissions (per client address and per focal point's
email), staff sign-in, guessed staff keys and the inbound webhook; counted in the database, so two API
processes share one count."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.auth.staff_keys import Role
from pledgeflow.core.settings import Settings
from tests.api.conftest import bearer, make_staff
from tests.conftest import make_settings
from tests.factories import submission_data
from tests.pages.conftest import csrf_of

TIGHT = {
    "rate_limit_submissions_per_address": "2/minute",
    "rate_limit_submissions_per_email": "3/hour",
    "rate_limit_staff_login": "3/minute",
    "rate_limit_bad_staff_keys": "3/minute",
    "rate_limit_inbound_webhook": "2/minute",
}


def _address() -> str:
    """A client address of this test's own, so no other test's counts meet it in the shared database."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def _client(settings: Settings, dev_env: WorkflowEnvironment, address: str) -> httpx.AsyncClient:
    """One API process (its own app) seen from ``address``."""
    transport = httpx.ASGITransport(app=create_app(settings, dev_env.client), client=(address, 50_000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _settings(tmp_path: Path, database_url: str, **extra: Any) -> Settings:
    return make_settings(tmp_path, database_url, **TIGHT, **extra)


def _submission(email: str) -> dict[str, Any]:
    return submission_data(focal_point={"name": "Amina Otieno", "email": email})


async def test_submissions_are_limited_per_client_address(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url)
    async with _client(settings, dev_env, _address()) as http:
        answers = [
            await http.post("/api/v1/pledges", json=_submission(f"{uuid.uuid4().hex}@x.example")) for _ in range(3)
        ]
    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert 0 < int(answers[2].headers["Retry-After"]) <= 60
    assert answers[2].headers["content-type"] == "application/problem+json"


async def test_submissions_are_limited_per_focal_point_email_across_addresses_and_processes(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url)
    victim = f"{uuid.uuid4().hex}@ministry.example"
    answers = []
    for _ in range(4):  # four API processes, four client addresses, one address being emailed
        async with _client(settings, dev_env, _address()) as http:
            answers.append(await http.post("/api/v1/pledges", json=_submission(victim.upper())))
    assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
    assert "per email" in answers[3].json()["detail"]


async def test_staff_sign_in_is_limited_per_address(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url)
    async with _client(settings, dev_env, _address()) as http:
        token = csrf_of((await http.get("/staff/login")).text)
        tries = [await http.post("/staff/login", data={"csrf_token": token, "key": f"pfs_guess{n}"}) for n in range(4)]
    assert [answer.status_code for answer in tries] == [401, 401, 401, 429]
    assert tries[3].headers["Retry-After"] and "Too many attempts" in tries[3].text


async def test_guessed_staff_keys_are_limited_per_address_before_any_key_is_checked(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url)
    good = make_staff(database_url)[Role.vetter]
    guesser = _address()
    async with _client(settings, dev_env, guesser) as http:
        assert (await http.get("/api/v1/review/queue", headers=bearer(good))).status_code == 200
        guesses = [
            await http.get("/api/v1/review/queue", headers=bearer(f"pfs_0000000{n}_{'x' * 32}")) for n in range(3)
        ]
        blocked = await http.get("/api/v1/review/queue", headers=bearer(good))
    assert [answer.status_code for answer in guesses] == [401, 401, 401]
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    async with _client(settings, dev_env, _address()) as elsewhere:
        assert (await elsewhere.get("/api/v1/review/queue", headers=bearer(good))).status_code == 200


async def test_the_inbound_webhook_is_limited_per_address(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str
) -> None:
    settings = _settings(tmp_path, database_url, inbound_webhook_secret="hook-secret")
    async with _client(settings, dev_env, _address()) as http:
        answers = [
            await http.post(
                "/api/v1/inbound/email", content=b"Subject: hi\r\n\r\nhello", headers={"X-Pledgeflow-Secret": "wrong"}
            )
            for _ in range(3)
        ]
    assert [answer.status_code for answer in answers] == [401, 401, 429]
