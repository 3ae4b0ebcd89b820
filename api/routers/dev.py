"""Dev mode only: the messages the dev SMTP sink captured, as a readable page and as JSON.

Reads the ``.eml`` files ``pledgeflow.devstack.mailsink`` writes under ``<home>/mail/``; newest first.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment
from pydantic import BaseModel

from api.deps import SettingsDep
from api.problems import ProblemError, responses
from pledgeflow.devstack.mailsink import mail_dir

router = APIRouter(prefix="/dev", tags=["dev"])

_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_NAME = re.compile(r"^[0-9]+-[0-9]+-[0-9]+$")


class CapturedMail(BaseModel):
    id: str
    to: list[str]
    cc: list[str]
    subject: str
    message_id: str | None
    in_reply_to: str | None
    reply_to: str | None
    date: str | None
    text: str | None
    html: str | None
    links: list[str]


def _addresses(message: EmailMessage, header: str) -> list[str]:
    value = message[header]
    if value is None:
        return []
    return [address.addr_spec for address in value.addresses]


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    # SMTP carries CRLF line ends; a reader of the JSON wants plain newlines.
    return None if body is None else str(body.get_content()).replace("\r\n", "\n")


def _date(message: EmailMessage) -> str | None:
    value = message["Date"]
    if value is None:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return str(value)
    # "-0000" (what formatdate writes by default) is UTC of unknown origin; Python leaves it naive.
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).isoformat()


def _header(message: EmailMessage, name: str) -> str | None:
    value = message[name]
    return None if value is None else str(value)


def read_mail(path: Path) -> CapturedMail:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    text = _part(message, "plain")
    return CapturedMail(
        id=path.stem,
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        subject=_header(message, "Subject") or "",
        message_id=_header(message, "Message-ID"),
        in_reply_to=_header(message, "In-Reply-To"),
        reply_to=_header(message, "Reply-To"),
        date=_date(message),
        text=text,
        html=_part(message, "html"),
        links=list(dict.fromkeys(url.rstrip(".,;:!?") for url in _URL.findall(text or ""))),
    )


def captured(directory: Path) -> list[CapturedMail]:
    """Every captured message, newest first (file names start with the arrival time)."""
    if not directory.is_dir():
        return []
    return [read_mail(path) for path in sorted(directory.glob("*.eml"), reverse=True)]


def _one(directory: Path, mail_id: str) -> CapturedMail:
    path = directory / f"{mail_id}.eml"
    if not _NAME.match(mail_id) or not path.is_file():
        raise ProblemError(404, f"no captured message {mail_id}")
    return read_mail(path)


@router.get("/mail.json")
def mail_json(settings: SettingsDep) -> list[CapturedMail]:
    """Captured messages, newest first; ``links`` are the URLs in the text part."""
    return captured(mail_dir(settings))


_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev mailbox ({{ mails|length }})</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; }
details { border-bottom: 1px solid #ddd; padding: .5rem 0; }
summary { cursor: pointer; } .meta { color: #555; font-size: .9rem; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: .75rem; }
</style></head>
<body><h1>Dev mailbox</h1>
<p>{{ mails|length }} message{{ "" if mails|length == 1 else "s" }} captured by the dev SMTP sink, newest first.
Also as <a href="/dev/mail.json">JSON</a>.</p>
{% for mail in mails %}
<details><summary><strong>{{ mail.subject }}</strong> <span class="meta">to {{ mail.to|join(", ") }}
{%- if mail.date %} · {{ mail.date }}{% endif %}</span></summary>
<p class="meta">Message-ID {{ mail.message_id }}
{%- if mail.in_reply_to %} · in reply to {{ mail.in_reply_to }}{% endif %}
{%- if mail.cc %} · cc {{ mail.cc|join(", ") }}{% endif %}
{%- if mail.reply_to %} · reply to {{ mail.reply_to }}{% endif %}</p>
<p><a href="/dev/mail/{{ mail.id }}/text">text</a>
{%- if mail.html %} · <a href="/dev/mail/{{ mail.id }}/html">HTML</a>{% endif %}</p>
{% if mail.links %}<ul>
{%- for link in mail.links %}<li><a href="{{ link }}">{{ link }}</a></li>{% endfor %}</ul>{% endif %}
<pre>{{ mail.text or "" }}</pre>
</details>
{% else %}
<p>No messages yet.</p>
{% endfor %}
</body></html>
"""
)


@router.get("/mail", response_class=HTMLResponse)
def mail_page(settings: SettingsDep) -> HTMLResponse:
    """The captured messages as a page: subject, recipients, links and the text of each."""
    return HTMLResponse(_PAGE.render(mails=captured(mail_dir(settings))))


@router.get("/mail/{mail_id}/text", response_class=PlainTextResponse, responses=responses(404))
def mail_text(mail_id: str, settings: SettingsDep) -> PlainTextResponse:
    """The text part of one captured message."""
    return PlainTextResponse(_one(mail_dir(settings), mail_id).text or "")


@router.get("/mail/{mail_id}/html", response_class=HTMLResponse, responses=responses(404))
def mail_html(mail_id: str, settings: SettingsDep) -> HTMLResponse:
    """The HTML part of one captured message, sandboxed: it renders but runs no script."""
    mail = _one(mail_dir(settings), mail_id)
    if mail.html is None:
        raise ProblemError(404, f"message {mail_id} has no HTML part")
    return HTMLResponse(mail.html, headers={"Content-Security-Policy": "sandbox"})
