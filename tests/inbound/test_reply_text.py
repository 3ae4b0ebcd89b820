"""Reading a reply: only what the sender newly wrote counts, and machines' replies are recognised."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from pledgeflow.inbound.machine_mail import machine_reason as auto_reply_reason
from pledgeflow.inbound.reply_text import reply_text
from tests.inbound.replies import (
    NEW_TEXT,
    gmail_reply,
    original_message_reply,
    out_of_office,
    outlook_reply,
    signed_reply,
)

TO = "reply+abc@inbound.pledgeflow.localhost"


def on_the_wire(message: EmailMessage) -> EmailMessage:
    parsed: EmailMessage = message_from_bytes(message.as_bytes(), policy=policy.default)  # type: ignore[assignment]
    return parsed


@pytest.mark.parametrize(
    "client",
    [gmail_reply, outlook_reply, original_message_reply],
    ids=["gmail", "outlook", "original-message"],
)
def test_quoted_request_is_stripped_leaving_the_new_text(client: object) -> None:
    assert reply_text(on_the_wire(client(TO))) == NEW_TEXT  # type: ignore[operator]


def test_an_html_only_outlook_reply_yields_its_new_text() -> None:
    text = reply_text(on_the_wire(outlook_reply(TO, html_only=True)))
    assert text == "\n\n".join(line for line in NEW_TEXT.split("\n") if line)  # one paragraph per <p>


def test_signature_and_interleaved_quotes_are_left_out() -> None:
    assert reply_text(on_the_wire(signed_reply(TO))) == NEW_TEXT


def test_a_line_mentioning_from_in_the_new_text_is_kept() -> None:
    text = "From: our field team in Kisumu, good news.\nWe connected 230 schools this year."
    assert reply_text(on_the_wire(gmail_reply(TO, new_text=text))) == text


def test_a_reply_written_by_a_person_is_not_an_auto_reply() -> None:
    assert auto_reply_reason(on_the_wire(gmail_reply(TO)), "amina@connect-africa.example") is None
    no = on_the_wire(gmail_reply(TO))
    no["Auto-Submitted"] = "no"
    assert auto_reply_reason(no, "amina@connect-africa.example") is None


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (("Auto-Submitted", "auto-replied"), "Auto-Submitted: auto-replied"),
        (("Auto-Submitted", "auto-generated; owner-email=it@connect-africa.example"), "Auto-Submitted: auto-generated"),
        (("X-Autoreply", "yes"), "X-Autoreply header"),
        (("Precedence", "bulk"), "Precedence: bulk"),
        (("Precedence", "auto_reply"), "Precedence: auto_reply"),
        (("Precedence", "list"), "Precedence: list"),
    ],
)
def test_automatic_replies_are_recognised(header: tuple[str, str], reason: str) -> None:
    assert auto_reply_reason(on_the_wire(out_of_office(TO, header)), "amina@connect-africa.example") == reason


def test_bounces_are_recognised_by_their_sender() -> None:
    bounce = out_of_office(TO, ("X-Failed-Recipients", "amina@connect-africa.example"))
    bounce.replace_header("From", "Mail Delivery Subsystem <MAILER-DAEMON@mx.connect-africa.example>")
    assert auto_reply_reason(on_the_wire(bounce), "amina@connect-africa.example") == "X-Failed-Recipients header"
    del bounce["X-Failed-Recipients"]
    assert auto_reply_reason(on_the_wire(bounce), "amina@connect-africa.example") == (
        "sent by MAILER-DAEMON@mx.connect-africa.example"
    )
    assert auto_reply_reason(on_the_wire(gmail_reply(TO)), "") == "null envelope sender (a bounce)"
