"""The dev SMTP sink keeps messages on disk; /dev/mail and /dev/mail.json show them, newest first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

import aiosmtplib
import httpx
import pytest

from api.app import create_app
from pledgeflow.core.settings import Settings
from pledgeflow.devstack import mailsink
from tests.conftest import free_port, make_settings

FIELDS = {"id", "to", "cc", "subject", "message_id", "in_reply_to", "reply_to", "date", "text", "html", "links"}


def report_request(message_id: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Pledge registry <no-reply@pledgeflow.localhost>"
    message["To"] = "Amina Otieno <amina@connect-africa.example>"
    message["Subject"] = "Your yearly report for PF-7K3M9Q is due"
    message["Message-ID"] = message_id
    message["Reply-To"] = "reply+abc123@inbound.pledgeflow.localhost"
    message["Date"] = formatdate(1_780_000_000)
    message.set_content(
        "Please report at http://localhost:8000/pledges/PF-7K3M9Q/report?token=abc\n"
        "Your pledge: http://localhost:8000/registry/PF-7K3M9Q.\n"
    )
    message.add_alternative('<p><a href="https://html-only.example/x">Report</a></p>', subtype="html")
    return message


def reminder(in_reply_to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Pledge registry <no-reply@pledgeflow.localhost>"
    message["To"] = "amina@connect-africa.example, ops@connect-africa.example"
    message["Cc"] = "Peter Mwangi <peter@connect-africa.example>"
    message["Subject"] = "Reminder: <b>report</b> for PF-7K3M9Q"
    message["Message-ID"] = make_msgid(domain="pledgeflow.localhost")
    message["In-Reply-To"] = in_reply_to
    message["References"] = in_reply_to
    message["Date"] = formatdate(1_780_100_000)
    message.set_content("A reminder: report at http://localhost:8000/pledges/PF-7K3M9Q/report?token=abc\n")
    return message


@pytest.fixture
async def sink_settings(tmp_path: Path, sqlite_url: str) -> AsyncIterator[Settings]:
    settings = make_settings(tmp_path, sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port())
    server = await mailsink.start(settings)
    yield settings
    server.close()
    await server.wait_closed()


def client_for(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://testserver")


async def test_mail_json_lists_captured_messages_newest_first(sink_settings: Settings) -> None:
    request_id = make_msgid(domain="pledgeflow.localhost")
    for message in (report_request(request_id), reminder(request_id)):
        await aiosmtplib.send(message, hostname=sink_settings.smtp_host, port=sink_settings.smtp_port)

    async with client_for(sink_settings) as http:
        response = await http.get("/dev/mail.json")
    assert response.status_code == 200
    newest, oldest = response.json()
    assert set(newest) == FIELDS and set(oldest) == FIELDS

    assert newest["subject"] == "Reminder: <b>report</b> for PF-7K3M9Q"
    assert newest["to"] == ["amina@connect-africa.example", "ops@connect-africa.example"]
    assert newest["cc"] == ["peter@connect-africa.example"]
    assert newest["in_reply_to"] == request_id
    assert newest["html"] is None

    assert oldest["to"] == ["amina@connect-africa.example"]
    assert oldest["cc"] == []
    assert oldest["message_id"] == request_id
    assert oldest["in_reply_to"] is None
    assert oldest["reply_to"] == "reply+abc123@inbound.pledgeflow.localhost"
    assert oldest["date"] == "2026-05-28T20:26:40+00:00"
    assert oldest["text"].startswith("Please report at http://localhost:8000/pledges/PF-7K3M9Q/report?token=abc\n")
    assert "\r" not in oldest["text"]
    assert 'href="https://html-only.example/x"' in oldest["html"]
    # Links come from the text part only, without trailing punctuation.
    assert oldest["links"] == [
        "http://localhost:8000/pledges/PF-7K3M9Q/report?token=abc",
        "http://localhost:8000/registry/PF-7K3M9Q",
    ]


async def test_mail_page_lists_subjects_escaped_and_links_each_part(sink_settings: Settings) -> None:
    request_id = make_msgid(domain="pledgeflow.localhost")
    for message in (report_request(request_id), reminder(request_id)):
        await aiosmtplib.send(message, hostname=sink_settings.smtp_host, port=sink_settings.smtp_port)

    async with client_for(sink_settings) as http:
        page = await http.get("/dev/mail")
        newest, oldest = (await http.get("/dev/mail.json")).json()
        html_part = await http.get(f"/dev/mail/{oldest['id']}/html")
        text_part = await http.get(f"/dev/mail/{newest['id']}/text")
        no_html = await http.get(f"/dev/mail/{newest['id']}/html")
        unknown = await http.get("/dev/mail/..%2Fsecret/text")

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert "2 messages" in body
    assert "Reminder: &lt;b&gt;report&lt;/b&gt; for PF-7K3M9Q" in body and "<b>report</b>" not in body
    assert body.index("Reminder:") < body.index("Your yearly report for PF-7K3M9Q is due")
    assert f'href="/dev/mail/{oldest["id"]}/html"' in body
    assert html_part.status_code == 200 and 'href="https://html-only.example/x"' in html_part.text
    assert html_part.headers["content-security-policy"] == "sandbox"
    assert text_part.text.startswith("A reminder: report at")
    assert no_html.status_code == 404
    assert unknown.status_code == 404


async def test_messages_survive_a_restart_of_the_sink(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, smtp_host="127.0.0.1", smtp_port=free_port())
    for message_id in ("<one@pledgeflow.localhost>", "<two@pledgeflow.localhost>"):
        server = await mailsink.start(settings)
        await aiosmtplib.send(report_request(message_id), hostname=settings.smtp_host, port=settings.smtp_port)
        server.close()
        await server.wait_closed()

    assert len(list((settings.home / "mail").glob("*.eml"))) == 2
    async with client_for(settings) as http:
        mails = (await http.get("/dev/mail.json")).json()
    assert [mail["message_id"] for mail in mails] == ["<two@pledgeflow.localhost>", "<one@pledgeflow.localhost>"]


async def test_the_mailbox_exists_only_in_dev_mode(tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, dev_mode=False)
    async with client_for(settings) as http:
        assert (await http.get("/dev/mail.json")).status_code == 404
        assert (await http.get("/dev/mail")).status_code == 404
