"""Every kind of email renders, in both parts, into a message a person can read and act on (docs/email.md §1-2)."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import aiosmtplib.email
import pytest

from activities.email_render import EmailRenderer, MissingContext, format_day, missing_context
from pledgeflow.auth import reply_tokens
from pledgeflow.auth.tokens import Purpose, is_for, verify
from pledgeflow.core.settings import Settings
from workflows.emails import (
    ALWAYS,
    CONTEXT,
    REMINDERS,
    REPORT_ASKING,
    THREADED,
    EmailKind,
    EmailRequest,
    Recipient,
)

# What a Partner2Connect-style pledge's workflow would put in the context, one value per key.
FACTS: dict[str, Any] = {
    "title": "Connecting 500 rural schools in Kenya by 2027",
    "organization": "Connect Africa Foundation",
    "review_days": 7,
    "submitted_at": "2026-03-02T09:15:00+00:00",
    "financial_usd": 2_500_000,
    "approvals_needed": 2,
    "waiting_days": 8,
    "note": "Please name the local operators you will work with\nand add a deliverable for 2026.",
    "deadline": "2027-04-28T09:00:00+00:00",
    "first_report_due": "2027-03-14T09:00:00+00:00",
    "cycle": 1,
    "delisting_date": "2028-07-27T09:00:00+00:00",
    "progress": "on_track",
    "reinstated": True,
    "days": 30,
    "reason": "Floods closed our field offices for six weeks.",
    "end_date": "2027-12-31",
    "closure_reason": "completed",
    "reply_text": "We connected 230 schools this year.\nThe audit of the last 40 follows in March.",
    "contact_role": "backup_contact",
    "contact_name": "Peter Mwangi",
    "contact_email": "peter@connect-africa.example",
}
STAFF_KINDS = {EmailKind.review_requested, EmailKind.review_overdue, EmailKind.review_escalated}
FOCAL = Recipient(email="amina@connect-africa.example", name="Amina Otieno", role="focal_point")
BACKUP = Recipient(email="peter@connect-africa.example", name="Peter Mwangi", role="backup_contact")
VETTERS = Recipient(email="vetting@pledgeflow.localhost", name="Vetting team", role="vetting_team")
SECRETARIAT = Recipient(email="secretariat@pledgeflow.localhost", name="Secretariat", role="secretariat")


def request_for(kind: EmailKind, recipient: Recipient | None = None, **context: Any) -> EmailRequest:
    facts = {key: FACTS[key] for key in ALWAYS | CONTEXT[kind]}
    return EmailRequest(
        pledge_id="PF-7K3M9QX",
        cycle=1,
        kind=kind,
        recipient=recipient
        or (VETTERS if kind in STAFF_KINDS else SECRETARIAT if kind == EmailKind.reminders_stopped else FOCAL),
        context={**facts, **context},
    )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, secret_key="template-tests-secret", public_base_url="https://pledges.example.org")


@pytest.fixture
def renderer(settings: Settings) -> EmailRenderer:
    return EmailRenderer(settings)


def as_received(message: EmailMessage) -> EmailMessage:
    """The message as a mail client parses it off the wire."""
    parsed: EmailMessage = message_from_bytes(message.as_bytes(), policy=policy.default)  # type: ignore[assignment]
    return parsed


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content())


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_a_readable_message_in_both_parts(renderer: EmailRenderer, kind: EmailKind) -> None:
    message = as_received(renderer.render(request_for(kind)))
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = parts(message)

    for body in (text, html):
        assert "Dear " in body
        assert "Connecting 500 rural schools in Kenya by 2027" in body
        assert "None" not in body and "{{" not in body and "{%" not in body
    # Every link the HTML offers is spelled out in the text part, so a text-only reader can follow it.
    links = set(re.findall(r'href="([^"]+)"', html))
    assert links, "each message links somewhere"
    for link in links:
        assert link.replace("&amp;", "&") in text
    if "deadline" in CONTEXT[kind]:
        assert "28 April 2027" in text and "28 April 2027" in html
        assert "2027-04-28" not in text
    assert message["Subject"] and "\n" not in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Pledgeflow-Pledge"] == "PF-7K3M9QX"
    assert re.fullmatch(r"<[0-9a-f]{32}@pledgeflow\.localhost>", message["Message-ID"])


@pytest.mark.parametrize("kind", sorted(REPORT_ASKING))
def test_report_requests_give_the_form_link_and_say_a_reply_works(
    renderer: EmailRenderer, settings: Settings, kind: EmailKind
) -> None:
    message = as_received(renderer.render(request_for(kind), token_version=3))
    text, html = parts(message)
    report_link = re.search(r"https://pledges\.example\.org/pledges/PF-7K3M9QX/report\?token=(\S+)", text)
    assert report_link is not None
    claims = verify(settings.signing_key(), report_link.group(1), Purpose.report, 86_400)
    assert (claims.pledge_id, claims.cycle, claims.version) == ("PF-7K3M9QX", 1, 3)
    assert "reply to this email" in text and "reply to this email" in html

    reply_to = str(message["Reply-To"])
    token = reply_tokens.token_in(reply_to, settings.inbound_domain)
    assert token is not None and len(reply_to.split("@")[0]) <= 64
    reply = reply_tokens.verify(settings.signing_key(), token.upper(), max_age_days=1)
    assert (reply.pledge_id, reply.cycle, reply.version) == ("PF-7K3M9QX", 1, 3)


def test_only_report_requests_carry_a_reply_address(renderer: EmailRenderer) -> None:
    for kind in set(EmailKind) - REPORT_ASKING:
        assert renderer.render(request_for(kind))["Reply-To"] is None, kind


def test_reminders_are_threaded_to_the_request_of_the_same_cycle_and_recipient(renderer: EmailRenderer) -> None:
    request = renderer.render(request_for(EmailKind.report_request))
    assert request["In-Reply-To"] is None
    for kind in THREADED:
        reminder = renderer.render(request_for(kind))
        assert reminder["In-Reply-To"] == request["Message-ID"], kind
        assert reminder["References"] == request["Message-ID"], kind
        assert reminder["Message-ID"] != request["Message-ID"]
    backup = Recipient(email="peter@connect-africa.example", name="Peter Mwangi", role="backup_contact")
    assert renderer.render(request_for(EmailKind.reminder_2, backup))["In-Reply-To"] != request["Message-ID"]
    final = request_for(EmailKind.reminder_1).model_copy(update={"thread_kind": EmailKind.final_report_request})
    assert (
        renderer.render(final)["In-Reply-To"]
        == renderer.render(request_for(EmailKind.final_report_request))["Message-ID"]
    )


def test_the_message_id_is_stable_and_unguessable(settings: Settings, tmp_path: Path) -> None:
    first = EmailRenderer(settings).render(request_for(EmailKind.published))["Message-ID"]
    again = EmailRenderer(settings).render(request_for(EmailKind.published))["Message-ID"]
    other_secret = Settings(home=tmp_path, secret_key="another-registry-secret")
    assert first == again
    assert EmailRenderer(other_secret).render(request_for(EmailKind.published))["Message-ID"] != first


def test_a_script_in_the_title_is_shown_as_text_in_html(renderer: EmailRenderer) -> None:
    title = "<script>alert('pwned')</script> & <b>bold</b>"
    _, html = parts(as_received(renderer.render(request_for(EmailKind.report_request, title=title))))
    assert "<script>" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_a_line_break_in_the_title_cannot_add_a_header(renderer: EmailRenderer) -> None:
    title = "Schools\r\nBcc: attacker@evil.example\r\n\r\nInjected body"
    name = "Amina\r\nCc: attacker@evil.example"
    recipient = Recipient(email="amina@connect-africa.example", name=name, role="focal_point")
    message = as_received(renderer.render(request_for(EmailKind.published, recipient, title=title)))
    assert message["Bcc"] is None and message["Cc"] is None
    assert message["Subject"] == "Your pledge “Schools Bcc: attacker@evil.example Injected body” is published"
    assert "evil" not in str(message["To"]).split("<")[1]


def test_staff_get_the_review_page_and_never_a_pledger_token(renderer: EmailRenderer) -> None:
    for kind in STAFF_KINDS | {EmailKind.reminders_stopped}:
        text, html = parts(renderer.render(request_for(kind)))
        assert "https://pledges.example.org/staff/pledges/PF-7K3M9QX" in text
        assert "token=" not in text and "token=" not in html


def test_the_secretariats_final_notice_informs_and_cannot_file_the_report(renderer: EmailRenderer) -> None:
    secretariat = Recipient(email="secretariat@pledgeflow.localhost", name="Secretariat", role="secretariat")
    message = as_received(renderer.render(request_for(EmailKind.final_notice, secretariat)))
    text, html = parts(message)
    assert message["Reply-To"] is None
    assert "token=" not in text and "token=" not in html
    assert "Nothing is needed from you" in text and "Nothing is needed from you" in html
    assert "https://pledges.example.org/registry/PF-7K3M9QX" in text
    focal_text, _ = parts(as_received(renderer.render(request_for(EmailKind.final_notice))))
    assert "Please report by 28 April 2027" in focal_text and "Please report by" not in text


def test_a_request_missing_a_fact_is_refused(renderer: EmailRenderer) -> None:
    request = request_for(EmailKind.report_request)
    del request.context["deadline"]
    with pytest.raises(MissingContext, match="report_request email needs deadline"):
        renderer.render(request)


def test_dates_read_the_way_people_write_them() -> None:
    assert format_day("2027-03-14") == "14 March 2027"
    assert format_day("2027-03-14T23:30:00-05:00") == "15 March 2027"  # deadlines are kept in UTC
    assert format_day("2027-03-04T08:00:00Z") == "4 March 2027"


def test_a_french_pledger_gets_french_mail_and_the_vetting_team_english(renderer: EmailRenderer) -> None:
    request = request_for(EmailKind.report_request).model_copy(update={"language": "fr"})
    message = as_received(renderer.render(request))
    text, html = parts(message)
    title = "Connecting 500 rural schools in Kenya by 2027"
    assert message["Subject"] == f"Merci de rendre compte des progrès de « {title} » d’ici le 28 avril 2027"
    assert "Bonjour Amina Otieno," in text and "Bonjour Amina Otieno," in html
    assert "Merci de rendre compte d’ici le 28 avril 2027." in text
    assert '<html lang="fr" dir="ltr">' in html
    staff = request_for(EmailKind.review_requested).model_copy(update={"language": "fr"})
    assert as_received(renderer.render(staff))["Subject"].startswith("New pledge to review:")


@pytest.mark.parametrize(
    ("language", "greeting"),
    [("ar", "السيد/السيدة Amina Otieno،"), ("zh", "尊敬的Amina Otieno："), ("ru", "Уважаемый(ая) Amina Otieno!")],
)
def test_report_requests_and_reminders_speak_every_un_language(
    renderer: EmailRenderer, language: str, greeting: str
) -> None:
    for kind in (EmailKind.report_request, EmailKind.reminder_1, EmailKind.reminder_2):
        message = as_received(renderer.render(request_for(kind).model_copy(update={"language": language})))
        text, html = parts(message)
        assert greeting in text and greeting in html, kind
        assert "Connecting 500 rural schools in Kenya by 2027" in message["Subject"]
        assert not any(word in message["Subject"] for word in ("Please", "Reminder")), message["Subject"]
    arabic = parts(
        as_received(renderer.render(request_for(EmailKind.report_request).model_copy(update={"language": "ar"})))
    )
    assert '<html lang="ar" dir="rtl">' in arabic[1]


def test_a_request_recorded_before_languages_renders_in_english(renderer: EmailRenderer) -> None:
    recorded = request_for(EmailKind.published).model_dump(mode="json")
    recorded.pop("language")
    message = as_received(renderer.render(EmailRequest.model_validate(recorded)))
    assert message["Subject"] == "Your pledge “Connecting 500 rural schools in Kenya by 2027” is published"


def test_the_changes_requested_mail_links_to_the_revise_page(renderer: EmailRenderer, settings: Settings) -> None:
    for kind in (EmailKind.changes_requested, EmailKind.revision_reminder):
        text, html = parts(as_received(renderer.render(request_for(kind))))
        link = re.search(r"https://pledges\.example\.org/pledges/PF-7K3M9QX/revise\?token=(\S+)", text)
        assert link is not None, kind
        claims = verify(settings.signing_key(), link.group(1), Purpose.manage, 86_400)
        assert claims.pledge_id == "PF-7K3M9QX"
        assert "/revise?token=" in html


@pytest.mark.parametrize("kind", sorted(REMINDERS))
@pytest.mark.parametrize("recipient", [FOCAL, BACKUP], ids=["focal_point", "backup_contact"])
def test_reminders_offer_one_click_unsubscribe_for_their_recipient_alone(
    renderer: EmailRenderer, settings: Settings, kind: EmailKind, recipient: Recipient
) -> None:
    """RFC 8058 §3.1: one HTTPS URI in List-Unsubscribe, and List-Unsubscribe-Post with the one key/value pair."""
    wire = aiosmtplib.email.flatten_message(renderer.render(request_for(kind, recipient), token_version=3))
    # The URL travels whole (folded onto its own line at most), never as RFC 2047 encoded words.
    assert b"=?" not in wire.split(b"List-Unsubscribe:", 1)[1].split(b"List-Unsubscribe-Post:", 1)[0]
    message = message_from_bytes(wire, policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(message["List-Unsubscribe"]).strip()
    found = re.fullmatch(r"<(https://pledges\.example\.org/pledges/PF-7K3M9QX/unsubscribe\?token=([\w.-]+))>", header)
    assert found is not None, header
    url, token = found.groups()
    claims = verify(settings.signing_key(), token, Purpose.unsubscribe, 86_400)
    assert (claims.pledge_id, claims.version) == ("PF-7K3M9QX", 3)
    other = BACKUP if recipient == FOCAL else FOCAL
    assert is_for(settings.signing_key(), claims, recipient.email.upper())
    assert not is_for(settings.signing_key(), claims, other.email)
    assert recipient.email not in url  # the address stays out of URLs and the logs that keep them
    text, html = parts(message)
    assert url in text and f'href="{url}"' in html


def test_only_reminders_to_contacts_offer_unsubscribe(renderer: EmailRenderer) -> None:
    for kind in set(EmailKind) - REMINDERS:
        message = renderer.render(request_for(kind))
        assert message["List-Unsubscribe"] is None and message["List-Unsubscribe-Post"] is None, kind
        assert "/unsubscribe?token=" not in parts(message)[0], kind
    secretariat = renderer.render(request_for(EmailKind.final_notice, SECRETARIAT))
    assert secretariat["List-Unsubscribe"] is None


def test_the_receipt_of_an_emailed_report_shows_what_was_taken_and_links_to_correct_it(
    renderer: EmailRenderer,
) -> None:
    reply = "We connected 230 <b>schools</b> & trained 1,100 teachers.\nThe audit follows in March."
    text, html = parts(as_received(renderer.render(request_for(EmailKind.report_received, reply_text=reply))))
    assert "This is what we took as your report" in text
    assert "> We connected 230 <b>schools</b> & trained 1,100 teachers.\n> The audit follows in March." in text
    assert "We connected 230 &lt;b&gt;schools&lt;/b&gt; &amp; trained 1,100 teachers." in html
    assert "<b>schools</b>" not in html
    assert "Correct or add to your report" in html
    report_link = re.search(r"https://pledges\.example\.org/pledges/PF-7K3M9QX/report\?token=\S+", text)
    assert report_link is not None and report_link.group(0) in html.replace("&amp;", "&")


def test_the_receipt_of_a_report_by_form_quotes_nothing(renderer: EmailRenderer) -> None:
    text, html = parts(as_received(renderer.render(request_for(EmailKind.report_received, reply_text=None))))
    for body in (text, html):
        assert "took as your report" not in body and "Add detail to your report" in html


def test_a_receipt_asked_for_before_it_quoted_replies_still_renders(renderer: EmailRenderer) -> None:
    """A send retried across the deploy carries the context of the workflow code that asked for it."""
    request = request_for(EmailKind.report_received)
    del request.context["reply_text"]
    assert missing_context(request) == []
    text, _ = parts(as_received(renderer.render(request)))
    assert "Thank you for reporting" in text and "took as your report" not in text


@pytest.mark.parametrize(
    "name",
    [
        "Otieno, Amina (Ministry of ICT, “Digital Kenya”) x@evil.example",
        'Amina "the focal point" Otieno, <x@evil.example>',
        "Dr. Amina Otieno (Head of Unit); cc: x@evil.example",
        "Ōtieno, Amína — Director-General of Connectivity and Digital Infrastructure Development, x@evil.example",
    ],
)
def test_any_display_name_stays_one_quoted_name_of_the_one_recipient(renderer: EmailRenderer, name: str) -> None:
    recipient = Recipient(email="amina@connect-africa.example", name=name, role="focal_point")
    received = as_received(renderer.render(request_for(EmailKind.published, recipient)))
    # As a mail client reads the header: one address, the recipient's, under the whole name.
    [address] = received["To"].addresses
    assert address.addr_spec == "amina@connect-africa.example"
    # (Python's parser puts a space between the two encoded words a long non-ASCII name folds into, where
    # RFC 2047 readers join them; the characters are all there, in order.)
    assert address.display_name.split() == name.split() or "".join(address.display_name.split()) == "".join(
        name.split()
    )
    assert [pair[1] for pair in getaddresses([str(received["To"])])] == ["amina@connect-africa.example"]
