"""What a reply by email says: whether a person wrote it, and the new text without the quoted request.

Pure functions over :mod:`email` messages, used by the inbound receiver and the provider webhook.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import parseaddr
from html.parser import HTMLParser

AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
ROBOT_SENDERS = frozenset({"mailer-daemon", "postmaster"})

# "On Mon, 14 Mar 2027 at 10:02, Pledgeflow <no-reply@...> wrote:" (Gmail, Apple Mail, Thunderbird) and
# the same attribution in the languages pledgers most often write in.
_ATTRIBUTION = re.compile(
    r"^(on|le|am|el|il|op|em)\s.+(wrote|a écrit|schrieb|escribió|ha scritto|schreef|escreveu)\s*:\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ORIGINAL_MESSAGE = re.compile(r"^-{2,}\s*(original message|forwarded message)\s*-{2,}$", re.IGNORECASE)
_OUTLOOK_RULE = re.compile(r"^_{10,}$")
_HEADER_FROM = re.compile(r"^\*?(from|von|de)\s*:\*?\s", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\*?(sent|date|to|subject|gesendet|envoyé|enviado)\s*:", re.IGNORECASE)
_DEVICE_SIGNATURE = re.compile(r"^(sent from my|get outlook for)\s", re.IGNORECASE)


def auto_reply_reason(message: EmailMessage, envelope_sender: str | None = None) -> str | None:
    """Why this message was written by a machine (out of office, bounce, list), or None for a person."""
    auto_submitted = str(message.get("Auto-Submitted", "")).split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for header in ("X-Autoreply", "X-Autorespond"):
        if message.get(header) is not None:
            return f"{header} header"
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    if envelope_sender == "":
        return "null envelope sender (a bounce)"
    for sender in (parseaddr(str(message.get("From", "")))[1], envelope_sender or ""):
        if sender.split("@")[0].lower() in ROBOT_SENDERS:
            return f"sent by {sender}"
    return None


def reply_text(message: EmailMessage) -> str:
    """The text the sender wrote in this reply, without the quoted message and the signature."""
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = str(body.get_content())
    if body.get_content_type() == "text/html":
        content = html_to_text(content)
    return strip_quoted(content)


def strip_quoted(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _starts_quote(lines, index) or line.rstrip() == "--" or _DEVICE_SIGNATURE.match(line.strip()):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def _starts_quote(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if _ORIGINAL_MESSAGE.match(line):
        return True
    # Mail clients wrap a long attribution line, so it may end "wrote:" one or two lines further on.
    if re.match(r"^(on|le|am|el|il|op|em)\s", line, re.IGNORECASE):
        for extra in range(3):
            if _ATTRIBUTION.match(" ".join(part.strip() for part in lines[index : index + extra + 1])):
                return True
    following = [candidate.strip() for candidate in lines[index + 1 : index + 5] if candidate.strip()]
    if _OUTLOOK_RULE.match(line):
        return bool(following) and bool(_HEADER_FROM.match(following[0]))
    # Outlook's quoted header block: "From: ..." then "Sent: ..." / "Date: ..." / "To: ...".
    return bool(_HEADER_FROM.match(line)) and any(_HEADER_NEXT.match(candidate) for candidate in following[:3])


class _TextExtractor(HTMLParser):
    """Visible text of an HTML reply, leaving out what clients mark as the quoted message."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "blockquote", "hr"})
    HIDDEN = frozenset({"style", "script", "head", "title"})
    QUOTE_MARKERS = ("gmail_quote", "divrplyfwdmsg", "appendonsend", "moz-cite-prefix", "yahoo_quoted")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0
        self._stack: list[bool] = []  # per open element: does it start a skipped region
        self.quote_found = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag in {"br", "hr", "img", "meta", "link", "input"}:
            return
        marks = " ".join(value or "" for name, value in attrs if name in {"class", "id"}).lower()
        quoted = tag == "blockquote" or any(marker in marks for marker in self.QUOTE_MARKERS)
        if quoted and self._skip_depth == 0 and tag != "blockquote":
            self.quote_found = True
        skip = quoted or tag in self.HIDDEN
        self._stack.append(skip)
        self._skip_depth += skip

    def handle_endtag(self, tag: str) -> None:
        if tag in {"br", "hr", "img", "meta", "link", "input"} or not self._stack:
            return
        self._skip_depth -= self._stack.pop()
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._skip_depth == 0 and not self.quote_found:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.split("\n")))
