"""Mail no reader expects, through real SMTP (smtplib as the sender's server, the real receiver): a charset
Python does not know is read by detection, and a message nested past reason is refused with a clear answer."""

from __future__ import annotations

import asyncio
import smtplib
import uuid

import httpx
import pytest
from sqlmodel import select

from pledgeflow.core.db import session_for
from pledgeflow.core.models import InboundMessage
from pledgeflow.core.settings import Settings
from pledgeflow.inbound.receiver import InboundServer
from tests.inbound.conftest import OpenPledge
from tests.inbound.test_inbound_webhook import api, post  # noqa: F401 (the webhook's fixture)

HEBREW = "חיברנו מאה ועשרים בתי ספר לרשת השנה, והכשרנו ארבעים מורים"


def _send(server: InboundServer, recipient: str, raw: bytes) -> tuple[int, str]:
    """The receiver's answer to DATA, as the sending server sees it (an error answer included)."""
    with smtplib.SMTP(server.host, server.port, timeout=30) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail("amina@connect-africa.example")
        assert code == 250
        code, _ = smtp.rcpt(recipient)
        assert code == 250
        code, answer = smtp.data(raw)
    return code, answer.decode()


def _headers(recipient: str, content_type: str) -> bytes:
    return (
        f"From: Amina Otieno <amina@connect-africa.example>\r\nTo: <{recipient}>\r\n"
        f"Subject: RE: Please report progress\r\nMessage-ID: <{uuid.uuid4().hex}@mail.example>\r\n"
        f"Date: Wed, 14 Apr 2027 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n"
    ).encode()


@pytest.mark.parametrize("charset", ["iso-8859-8-i", "x-unknown-charset"])
async def test_a_reply_in_a_charset_python_does_not_know_is_read_not_bounced(
    charset: str, settings: Settings, pledge: OpenPledge, inbound: InboundServer
) -> None:
    """Outlook labels Hebrew ``iso-8859-8-i``; Python knows no such codec and answered "500 LookupError"."""
    raw = (
        _headers(pledge.reply_to, f'text/plain; charset="{charset}"')
        + b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + HEBREW.encode("iso-8859-8")
        + b"\r\n"
    )
    code, answer = await asyncio.to_thread(_send, inbound, pledge.reply_to, raw)
    assert (code, answer.split(":")[0]) == (250, "2.0.0 accepted"), answer
    [reply] = await pledge.replies()
    assert reply.text == HEBREW


def _nested(recipient: str, depth: int = 1000) -> bytes:
    raw = _headers(recipient, 'multipart/mixed; boundary="b0"') + b"\r\n"
    for level in range(1, depth):
        raw += f'--b{level - 1}\r\nContent-Type: multipart/mixed; boundary="b{level}"\r\n\r\n'.encode()
    raw += f"--b{depth - 1}\r\nContent-Type: text/plain\r\n\r\n{'Progress: 120 schools connected. ' * 3}\r\n".encode()
    for level in reversed(range(depth)):
        raw += f"--b{level}--\r\n".encode()
    return raw


async def test_a_message_nested_a_thousand_deep_is_refused_with_a_clear_answer(
    settings: Settings, pledge: OpenPledge, inbound: InboundServer
) -> None:
    raw = _nested(pledge.reply_to)
    code, answer = await asyncio.to_thread(_send, inbound, pledge.reply_to, raw)
    assert (code, answer) == (552, "5.3.4 message structure too deep: MIME parts nested more than 30 deep")
    assert await pledge.replies() == []
    with session_for(settings.database_url) as session:
        assert session.exec(select(InboundMessage).where(InboundMessage.pledge_id == pledge.pledge_id)).all() == []


async def test_the_webhook_refuses_it_as_invalid_input(api: httpx.AsyncClient, pledge: OpenPledge) -> None:  # noqa: F811
    response = await post(api, _nested(pledge.reply_to))
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "message structure too deep: MIME parts nested more than 30 deep"
    assert await pledge.replies() == []
