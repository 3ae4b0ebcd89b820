"""The message render builds is the one the email package builds with its default policy, byte for byte.

``render`` builds its messages with a policy that makes the headers of few values (content headers and
constants) once and shares them; what goes on the wire must not change for it, for any kind, name or language.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtplib.email import flatten_message

from activities import email_render
from activities.email_render import EmailRenderer
from pledgeflow.core.settings import Settings
from tests.activities.test_email_templates import request_for
from workflows.emails import EmailKind, EmailRequest, Recipient

# What differs between any two renders of one request (the links' tokens, signed at a fixed time here): the
# time, and the boundary the generator draws.
_DATE = re.compile(rb"^Date: [^\r\n]*", re.MULTILINE)
_BOUNDARY = re.compile(rb"={15}\d+==")

PEOPLE = [
    Recipient(email="amina@connect-africa.example", name="Amina Otieno", role="focal_point"),
    Recipient(email="zoe@villes.example", name="Zoë Ñúñez-Ångström, « Mairie »", role="focal_point"),
    Recipient(email="li@city.example", name='李小龙 "Xiaolong" <Li>', role="backup_contact"),
    Recipient(email="salma@ngo.example", name="سلمى الحسيني", role="focal_point"),
]
LANGUAGES = ["en", "fr", "es", "ar", "zh", "ru"]


def on_the_wire(message: EmailMessage, cte_type: str) -> bytes:
    return _BOUNDARY.sub(b"BOUNDARY", _DATE.sub(b"Date: -", flatten_message(message, cte_type=cte_type)))


def requests() -> list[EmailRequest]:
    made = []
    for n, kind in enumerate(EmailKind):
        person = PEOPLE[n % len(PEOPLE)]
        title = ["Connecting rural schools", "Écoles connectées à l’internet", "ربط المدارس الريفية بالإنترنت"][n % 3]
        request = request_for(kind, title=f"{title} {'and more ' * (n % 4) * 4}".strip())
        if request.recipient.role == "focal_point":
            request = request.model_copy(update={"recipient": person})
        made.append(request.model_copy(update={"language": LANGUAGES[n % len(LANGUAGES)]}))
    return made


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, secret_key="build-tests-secret", public_base_url="https://pledges.example.org")


def test_every_kind_goes_on_the_wire_as_the_default_policy_builds_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("itsdangerous.timed.TimestampSigner.get_timestamp", lambda _: 1_800_000_000)
    ours = EmailRenderer(settings)
    built = [ours.render(request) for request in [*requests(), *requests()]]  # the second time, headers kept
    monkeypatch.setattr(email_render, "POLICY", policy.default)
    stdlib = EmailRenderer(settings)
    for request, message in zip([*requests(), *requests()], built, strict=True):
        expected = stdlib.render(request)
        assert expected["MIME-Version"] is not message["MIME-Version"], "the default policy's build, not ours"
        for cte_type in ("8bit", "7bit"):  # 7bit: a server without 8BITMIME
            assert on_the_wire(message, cte_type) == on_the_wire(expected, cte_type), (request.kind, cte_type)
        assert [(name, str(value)) for name, value in message.items() if name != "Date"] == [
            (name, str(value)) for name, value in expected.items() if name != "Date"
        ]


def test_the_kept_headers_are_the_few_valued_ones(settings: Settings) -> None:
    """A header whose value is the recipient's or the message's own is never shared between messages."""
    renderer = EmailRenderer(settings)
    first, second = (renderer.render(request) for request in requests()[:2])
    shared = {name.lower() for name, value in first.items() if any(value is other for other in second.values())}
    assert shared <= email_render.FEW_VALUES | {"from"}
