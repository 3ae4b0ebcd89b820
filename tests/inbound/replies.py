"""Replies as real mail clients write them, quoting the report request underneath the new text."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

NEW_TEXT = (
    "We connected 230 schools this year and trained 1,100 teachers in digital skills.\n"
    "The Ministry of ICT joined as a partner in March.\n"
    "\n"
    "Best,\n"
    "Amina"
)
# What is recorded and published of NEW_TEXT: the sign-off and the name go, the wrapped paragraph is joined.
PUBLISHED_TEXT = (
    "We connected 230 schools this year and trained 1,100 teachers in digital skills. "
    "The Ministry of ICT joined as a partner in March."
)
REQUEST_LINES = [
    "Dear Amina Otieno,",
    "",
    'It is time for the yearly progress report (cycle 1) on "Connecting 500 rural schools in Kenya by 2027"',
    "(PF-7K3M9QX), pledged by Connect Africa Foundation.",
    "",
    "Please report by 28 April 2027.",
]
SENDER = "Amina Otieno <amina@connect-africa.example>"


def _message(to: str, subject: str = "Re: Please report progress on your pledge") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = f"Pledgeflow Registry <{to}>"
    message["Subject"] = subject
    message["Date"] = "Thu, 15 Apr 2027 10:02:11 +0300"
    message["Message-ID"] = f"<CAF{uuid.uuid4().hex}@mail.gmail.com>"
    message["In-Reply-To"] = "<29058c8dd457fe62594675c9045cf5b9@pledgeflow.localhost>"
    return message


def gmail_reply(to: str, new_text: str = NEW_TEXT) -> EmailMessage:
    """Gmail: new text, a wrapped "On ... wrote:" attribution, then the request quoted with "> "."""
    message = _message(to)
    quoted = "\n".join(f"> {line}".rstrip() for line in REQUEST_LINES)
    message.set_content(
        f"{new_text}\n\nOn Wed, 14 Apr 2027 at 09:00, Pledgeflow Registry <\n"
        f"no-reply@pledgeflow.localhost> wrote:\n\n{quoted}\n"
    )
    html_new = "<br>".join(new_text.split("\n"))
    message.add_alternative(
        f'<div dir="ltr">{html_new}</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        "On Wed, 14 Apr 2027 at 09:00, Pledgeflow Registry &lt;no-reply@pledgeflow.localhost&gt; wrote:<br></div>"
        f'<blockquote class="gmail_quote">{"<br>".join(REQUEST_LINES)}</blockquote></div>',
        subtype="html",
    )
    return message


def outlook_reply(to: str, new_text: str = NEW_TEXT, html_only: bool = False) -> EmailMessage:
    """Outlook: new text and signature, a rule, then the request under a From/Sent/To/Subject block."""
    message = _message(to, subject="RE: Please report progress on your pledge")
    header_block = [
        "From: Pledgeflow Registry <no-reply@pledgeflow.localhost>",
        "Sent: Wednesday, April 14, 2027 9:00 AM",
        "To: Amina Otieno <amina@connect-africa.example>",
        "Subject: Please report progress on your pledge",
    ]
    if html_only:
        paragraphs = "".join(f"<p>{line}</p>" for line in new_text.split("\n") if line)
        message.set_content(
            f'<html><body><div style="font-family:Calibri">{paragraphs}</div><div id="appendonsend"></div>'
            f'<hr><div id="divRplyFwdMsg">{"<br>".join(header_block)}</div>'
            f"<div>{'<br>'.join(REQUEST_LINES)}</div></body></html>",
            subtype="html",
        )
    else:
        body = "\n".join([new_text, "", "_" * 32, *header_block, "", *REQUEST_LINES])
        message.set_content(body + "\n")
    return message


def original_message_reply(to: str, new_text: str = NEW_TEXT) -> EmailMessage:
    """Older Outlook and many webmails: "-----Original Message-----" and the request below it."""
    message = _message(to)
    message.set_content("\n".join([new_text, "", "-----Original Message-----", *REQUEST_LINES]) + "\n")
    return message


def signed_reply(to: str, new_text: str = NEW_TEXT) -> EmailMessage:
    """A reply with interleaved "> " quotes and a "-- " signature."""
    message = _message(to)
    message.set_content(
        "\n".join(["> Please report by 28 April 2027.", new_text, "", "-- ", "Amina Otieno", "Director"]) + "\n"
    )
    return message


def out_of_office(to: str, header: tuple[str, str] = ("Auto-Submitted", "auto-replied")) -> EmailMessage:
    """An automatic reply: enough text to pass for a report, but written by a machine."""
    message = _message(to, subject="Automatic reply: Please report progress on your pledge")
    message[header[0]] = header[1]
    message.set_content(
        "I am out of the office until 3 May 2027 with limited access to email.\n"
        "For urgent matters please contact Peter Mwangi.\n"
    )
    return message
