"""POST /api/v1/inbound/email: a provider's raw MIME, behind a shared secret, processed like SMTP replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.core.settings import Settings
from tests.inbound.conftest import OpenPledge
from tests.inbound.replies import PUBLISHED_TEXT, gmail_reply, out_of_office

SECRET = "provider-webhook-secret"
URL = "/api/v1/inbound/email"


@pytest.fixture
async def api(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    settings.inbound_webhook_secret = SECRET
    transport = httpx.ASGITransport(app=create_app(settings, dev_env.client))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def post(api: httpx.AsyncClient, message: EmailMessage | bytes, secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers["X-Pledgeflow-Secret"] = secret
    body = message if isinstance(message, bytes) else message.as_bytes()
    return await api.post(URL, content=body, headers=headers)


async def test_a_posted_reply_counts_once(api: httpx.AsyncClient, pledge: OpenPledge) -> None:
    message = gmail_reply(pledge.reply_to)
    message["Delivered-To"] = pledge.reply_to
    first = await post(api, message)
    assert first.status_code == 200
    assert first.json() == {
        "outcome": "accepted",
        "message_id": message["Message-ID"],
        "pledge_id": pledge.pledge_id,
        "detail": "counted as the report for cycle 1",
    }
    again = await post(api, message)
    assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
    assert [reply.text for reply in await pledge.replies()] == [PUBLISHED_TEXT]


async def test_an_auto_reply_posted_is_ignored(api: httpx.AsyncClient, pledge: OpenPledge) -> None:
    response = await post(api, out_of_office(pledge.reply_to))
    assert (response.status_code, response.json()["outcome"]) == (200, "auto_reply")
    assert await pledge.replies() == []


@pytest.mark.parametrize(("secret", "detail"), [(None, "required"), ("wrong", "required"), ("", "required")])
async def test_without_the_right_secret_it_is_401(
    api: httpx.AsyncClient, pledge: OpenPledge, secret: str | None, detail: str
) -> None:
    response = await post(api, gmail_reply(pledge.reply_to), secret=secret)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]
    assert await pledge.replies() == []


async def test_without_a_configured_secret_it_is_503_so_the_provider_keeps_the_mail(
    api: httpx.AsyncClient, settings: Settings, pledge: OpenPledge
) -> None:
    settings.inbound_webhook_secret = None
    response = await post(api, gmail_reply(pledge.reply_to))
    assert response.status_code == 503
    assert "PLEDGEFLOW_INBOUND_WEBHOOK_SECRET" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ("bad-token", 422, "reply address invalid"),
        ("no-recipient", 422, "not a reply address"),
        ("empty", 422, "raw MIME"),
        ("huge", 413, "larger than"),
    ],
)
async def test_bad_bodies_get_a_clear_4xx_and_signal_nothing(
    api: httpx.AsyncClient, settings: Settings, pledge: OpenPledge, body: str, status: int, detail: str
) -> None:
    payloads: dict[str, Any] = {
        "bad-token": gmail_reply(f"reply+{'a' * 44}@{settings.inbound_domain}"),
        "no-recipient": gmail_reply("secretariat@un.example"),
        "empty": b"   ",
        "huge": b"Subject: x\r\n\r\n" + b"x" * (10 * 1024 * 1024 + 1),
    }
    response = await post(api, payloads[body])
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert await pledge.replies() == []
