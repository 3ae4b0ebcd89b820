"""Mail a machine wrote: auto-replies, bounces and complaints are recognised, and never count as a report.

:func:`machine_reason` says why a message was written by a machine (RFC 3834 ``Auto-Submitted``, the
null sender, any ``multipart/report``, ``Precedence``, ``X-Autoreply``, list headers, ``X-Loop``, robot
senders, or an out-of-office or bounce subject in the languages pledgers write in), or None for a person.
:func:`bounce_of` reads what a delivery-status notification (RFC 3464) or an abuse report (ARF, RFC 5965)
says about the recipient it concerns; flufl.bounce reads the bounces of servers that send no standard DSN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from enum import StrEnum

from flufl.bounce import all_failures

AUTO_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
ROBOT_SENDERS = frozenset(
    {"mailer-daemon", "postmaster", "post_master", "mail-daemon", "mailerdaemon"}
    | {"no-reply", "noreply", "do-not-reply", "donotreply"}
)
REPORT_TYPES = {
    "delivery-status": "a delivery status notification (RFC 3464)",
    "disposition-notification": "a read receipt (RFC 8098)",
    "feedback-report": "an abuse report (RFC 5965)",
}
# Subjects that only an out-of-office robot or a mail server writes, at the start of the subject.
_MACHINE_SUBJECT = re.compile(
    r"^\s*\[?("
    # out of office / automatic reply: en, fr, es, pt, it, de, nl, nordic, fi, pl, ru, zh, ja, ko, ar
    r"out of (the )?office|automatic reply|auto[- ]?reply|autoreply|auto[- ]?response|away from (the )?office"
    r"|absence|réponse automatique|message d'absence|absent\b"
    r"|respuesta automática|fuera de la oficina|ausente|resposta automática|fora do escritório"
    r"|risposta automatica|fuori (sede|ufficio)|assente"
    r"|abwesenheitsnotiz|automatische antwort|abwesend|out-of-office"
    r"|automatisch antwoord|afwezig|niet aanwezig"
    r"|autosvar|automatiskt svar|frånvaro|fraværende|automatisk svar|ikke til stede"
    r"|automaattinen vastaus|poissa"
    r"|automatyczna odpowiedź|odpowiedź automatyczna|nieobecność|poza biurem"
    r"|автоответ|автоматический ответ|нет на месте|вне офиса"
    r"|自动回复|自動回覆|自动答复|不在办公室|自動応答|自動返信|不在のお知らせ|不在通知"
    r"|자동 회신|자동 응답|부재중"
    r"|رد تلقائي|الرد التلقائي|خارج المكتب"
    # delivery failures
    r"|undeliverable|undelivered mail|delivery status notification|mail delivery failed|returned mail"
    r"|delivery failure|failure notice|delivery has failed|message not delivered|nicht zustellbar"
    r"|unzustellbar|non remis|non distribuable|no se puede entregar|mensaje no entregado"
    r"|read: |lu : |gelesen: |leído: |letto: |complaint about message|abuse report|メールエラー|配信エラー|エラー通知"
    r")",
    re.IGNORECASE,
)


class BounceKind(StrEnum):
    hard = "hard"  # a permanent failure: the address does not work
    soft = "soft"  # a temporary one: a full mailbox, a server down
    complaint = "complaint"  # the recipient reported our mail as abuse


@dataclass(frozen=True)
class Bounce:
    """What a bounce or complaint says about one recipient of ours."""

    recipient: str
    status: str  # the DSN status code, like 5.1.1; "complaint: abuse" for an ARF report
    action: str  # failed | delayed | ... ; "complaint" for an ARF report
    kind: BounceKind
    original_message_id: str | None  # the Message-ID of our message it concerns, when it quotes it
    detail: str = ""

    def as_json(self) -> dict[str, str]:
        return {"recipient": self.recipient, "status": self.status, "action": self.action}


def machine_reason(message: EmailMessage, envelope_sender: str | None = None) -> str | None:
    """Why this message was written by a machine, or None for a person's message."""
    content_type = message.get_content_type()
    if content_type == "multipart/report":
        report_type = str(message.get_param("report-type", "") or "").lower()
        return f"multipart/report: {REPORT_TYPES.get(report_type, report_type or 'a report')}"
    for part in _parts(message):
        kind = part.get_content_type()
        if kind in {"message/delivery-status", "message/disposition-notification", "message/feedback-report"}:
            return f"{kind} part: {REPORT_TYPES[kind.split('/')[1]]}"
    auto_submitted = _header(message, "Auto-Submitted").split(";")[0].strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Failed-Recipients", "X-Loop"):
        if message.get(header) is not None:
            return f"{header} header"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    if envelope_sender == "" or _header(message, "Return-Path").strip() == "<>":
        return "null envelope sender (a bounce)"
    for header in ("List-Id", "List-Unsubscribe", "List-Post", "List-Help", "X-MLServer", "X-Mailman-Version"):
        if message.get(header) is not None:
            return f"{header} header (mailing-list mail)"
    for sender in (parseaddr(_header(message, "From"))[1], envelope_sender or ""):
        if sender.split("@")[0].lower() in ROBOT_SENDERS:
            return f"sent by {sender}"
    subject = _header(message, "Subject")
    if _MACHINE_SUBJECT.match(subject):
        return f"subject of an automatic message: {' '.join(subject.split())[:80]}"
    return None


def bounce_of(message: EmailMessage) -> Bounce | None:
    """The recipient a bounce or abuse report concerns and what it says, or None if it says nothing usable."""
    original_id = _original_message_id(message)
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "message/feedback-report":
            return _complaint(message, part, original_id)
        if kind == "message/delivery-status":
            found = _delivery_status(part, original_id)
            if found is not None:
                return found
    try:
        temporary, permanent = all_failures(message)
    except Exception:
        return None
    failures = ((permanent, BounceKind.hard, "5.0.0"), (temporary, BounceKind.soft, "4.0.0"))
    for addresses, bounce_kind, status in failures:
        for address in sorted(addresses):
            recipient = address.decode("utf-8", "replace") if isinstance(address, bytes) else str(address)
            action = "failed" if bounce_kind is BounceKind.hard else "delayed"
            return Bounce(recipient.lower(), status, action, bounce_kind, original_id, "read by flufl.bounce")
    return None


def _delivery_status(part: Message, original_id: str | None) -> Bounce | None:
    """The first recipient a DSN reports as failed (or else delayed); RFC 3464 §2.3."""
    fields = _dsn_fields(part)
    found: Bounce | None = None
    for block in fields[1:]:
        recipient = _address(block.get("final-recipient") or block.get("original-recipient") or "")
        action = block.get("action", "").strip().lower()
        status = (re.match(r"\d\.\d{1,3}\.\d{1,3}", block.get("status", "").strip()) or [""])[0]
        if not recipient or action not in {"failed", "delayed"}:
            continue
        hard = action == "failed" and status.startswith("5")
        bounce = Bounce(
            recipient,
            status or ("5.0.0" if action == "failed" else "4.0.0"),
            action,
            BounceKind.hard if hard else BounceKind.soft,
            original_id,
            " ".join(block.get("diagnostic-code", "").split())[:300],
        )
        if hard:
            return bounce
        found = found or bounce
    return found


def _complaint(message: EmailMessage, part: Message, original_id: str | None) -> Bounce | None:
    [report] = _dsn_fields(part)[:1] or [{}]
    recipient = _address(report.get("original-rcpt-to", "")) or _original_recipient(message)
    if not recipient:
        return None
    feedback = report.get("feedback-type", "abuse").strip().lower() or "abuse"
    return Bounce(recipient, f"complaint: {feedback}", "complaint", BounceKind.complaint, original_id)


def _dsn_fields(part: Message) -> list[dict[str, str]]:
    """The header blocks of a delivery-status or feedback-report part, each as lower-cased field names."""
    payload = part.get_payload()
    if isinstance(payload, list):
        parsed = [block for block in payload if isinstance(block, Message)]
        return [{name.lower(): str(value) for name, value in block.items()} for block in parsed]
    text = payload if isinstance(payload, str) else ""
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        block: dict[str, str] = {}
        last = ""
        for line in chunk.split("\n"):
            if line[:1] in {" ", "\t"} and last:
                block[last] += " " + line.strip()
            elif ":" in line:
                name, _, value = line.partition(":")
                last = name.strip().lower()
                block[last] = value.strip()
        if block:
            blocks.append(block)
    return blocks


def _original_headers(message: EmailMessage) -> Message | None:
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if kind == "text/rfc822-headers":
            from email import message_from_string

            return message_from_string(str(part.get_payload(decode=False)))
    return None


def _original_message_id(message: EmailMessage) -> str | None:
    original = _original_headers(message)
    found = str(original.get("Message-ID", "")).strip() if original is not None else ""
    return found or None


def _original_recipient(message: EmailMessage) -> str:
    original = _original_headers(message)
    if original is None:
        return ""
    addresses = [address for _, address in getaddresses([str(value) for value in original.get_all("To", [])])]
    return addresses[0].lower() if addresses else ""


def _address(field: str) -> str:
    """``rfc822; someone@example.org`` as ``someone@example.org``."""
    value = field.split(";", 1)[-1].strip().strip("<>").strip()
    return value.lower() if "@" in value else ""


def _header(message: Message, name: str) -> str:
    try:
        return str(message.get(name, "") or "")
    except (ValueError, LookupError, TypeError):  # a header the policy cannot decode: read it raw
        raw = message.get_all(name, failobj=[])
        return str(raw[0]) if raw else ""


def _parts(message: Message, depth_limit: int = 40) -> Iterator[Message]:
    """Every part, breadth-first and without recursion, so a message nested a thousand deep cannot crash us."""
    queue: list[tuple[Message, int]] = [(message, 0)]
    while queue:
        part, depth = queue.pop(0)
        yield part
        if depth >= depth_limit or not part.is_multipart():
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            queue.extend((child, depth + 1) for child in payload if isinstance(child, Message))
