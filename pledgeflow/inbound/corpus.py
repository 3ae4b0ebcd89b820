"""The figures of reply reading on a regression corpus (tests/inbound/corpus, built from public test suites).

``measure(folder)`` is what ``pledgeflow bench`` reports as its "inbound" part and what the tests assert:

- ``replies/<source>/<case>.{txt,html,eml}`` with ``<case>.expected``: a person's reply (a plain body, an
  HTML body, or a whole message) and the text the sender wrote. A reply counts as read right when what is
  read from it is exactly its expected text, whitespace aside: all of the sender's lines and none quoted.
- ``machine/<source>/<case>.eml``: bounces, complaints, read receipts, auto-replies. Each must be recognised
  as machine mail; no reply above may be.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from pledgeflow.inbound.reading import Reading, read

REPLY_SUFFIXES = {".txt": "plain", ".html": "html"}
SENDER = "A. Person <a.person@example.org>"


@dataclass(frozen=True)
class CorpusFigures:
    replies: int
    replies_read_right: int  # every own line, no quoted line
    machine: int
    machine_recognised: int
    replies_taken_for_machine: int  # a person's reply flagged as machine mail: must stay 0
    misread: list[str] = field(default_factory=list)  # case names, for a person to look at

    @property
    def reply_share(self) -> float:
        return self.replies_read_right / self.replies if self.replies else 0.0

    @property
    def machine_share(self) -> float:
        """Machine mail recognised, counting a person's reply taken for machine mail against it."""
        if not self.machine:
            return 0.0
        return max(0, self.machine_recognised - self.replies_taken_for_machine) / self.machine

    def as_json(self) -> dict[str, float | int]:
        return {
            "replies": self.replies,
            "replies_read_right": self.replies_read_right,
            "reply_share": round(self.reply_share, 4),
            "machine": self.machine,
            "machine_recognised": self.machine_recognised,
            "replies_taken_for_machine": self.replies_taken_for_machine,
            "machine_share": round(self.machine_share, 4),
        }


def reply_message(path: Path) -> bytes:
    """A case's bytes as the receiver gets them: a bare body is wrapped in a message from a person."""
    if path.suffix == ".eml":
        return path.read_bytes()
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "reply+token@inbound.example.org"
    message["Subject"] = "Re: Please report progress on your pledge"
    message.set_content(path.read_bytes().decode("utf-8", "replace"), subtype=REPLY_SUFFIXES[path.suffix])
    return message.as_bytes()


def read_case(path: Path) -> Reading:
    return read(reply_message(path), envelope_sender=None)


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def measure(folder: Path) -> CorpusFigures:
    replies = right = flagged = machine = recognised = 0
    misread = []
    for path in sorted((folder / "replies").glob("*/*")):
        if path.suffix not in {*REPLY_SUFFIXES, ".eml"}:
            continue
        replies += 1
        reading = read_case(path)
        expected = path.with_suffix(".expected").read_text(encoding="utf-8")
        if reading.auto_reply is not None:
            flagged += 1
            misread.append(f"{path.parent.name}/{path.name}: taken for machine mail ({reading.auto_reply})")
        elif _same(reading.own_text, expected):
            right += 1
        else:
            misread.append(f"{path.parent.name}/{path.name}")
    for path in sorted((folder / "machine").glob("*/*.eml")):
        machine += 1
        if read(path.read_bytes()).auto_reply is not None:
            recognised += 1
        else:
            misread.append(f"{path.parent.name}/{path.name}: not recognised as machine mail")
    return CorpusFigures(replies, right, machine, recognised, flagged, misread)
