"""What a person wrote in a reply: the body read in the right charset, without the quoted message and the signature.

:func:`reply_text` takes the text part (or the HTML part, its quotes marked as ``>`` lines), and
:func:`own_text` keeps the lines the sender wrote: above the first attribution ("On ... wrote:" in the
languages pledgers write in), original-message separator or Outlook header block, plus what they wrote
between ``>`` quotes when they answered inline, minus their signature (``-- ``, mobile taglines as whole
lines, list footers). Measured on the public corpus in tests/inbound/corpus (pledgeflow/inbound/corpus.py).
"""

from __future__ import annotations

import re
from email.message import EmailMessage, Message
from html.parser import HTMLParser

from charset_normalizer import from_bytes

# Charsets mail clients declare that Python does not know by that name.
CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6", "x-unknown": "utf-8", "unicode-1-1-utf-7": "utf-7"
}  # fmt: skip

_WROTE = (
    r"wrote|a écrit|schrieb|escribió|escribio|ha scritto|scrisse|schreef|escreveu|skrev|kirjoitti|napisał\(a\)"
    r"|napisał|napisała|pisze|написал\(а\)|написал|написала|написав|пишет|писал|írta|yazdı|napsal|a scris"
    r"|写道|寫道|写了|のメッセージ|が書きました|書きました|작성|كتب"
)
# An attribution line (possibly wrapped over several lines): "On <date>, <name> wrote:" and its translations,
# or any line with a date and an address that ends in a colon ("2022年1月1日(金) 9:00 田中 <t@x.jp>:").
_ATTRIBUTION = re.compile(rf"^[-\s>]*.{{0,300}}({_WROTE})\s*(\(a\))?\s*[:：]?\s*(-+)?\s*$", re.IGNORECASE | re.DOTALL)
_ATTRIBUTION_START = re.compile(
    r"^[-\s]*(on|le|am|el|il|in data|op|em|den|dnia|w dniu|de|da|the|в|ср|пн|вт|чт|пт|сб|вс|\d|\w{2,4}\.?\s+\d)",
    re.IGNORECASE,
)
_DATED_ADDRESS = re.compile(r"\d.*(@|\bfrom\b).*[:：]\s*$", re.IGNORECASE | re.DOTALL)
_SEPARATOR = re.compile(
    r"^[\s\-_=*>]*("
    r"original message|forwarded message|begin forwarded message|message d'origine|message transféré"
    r"|message original|ursprüngliche nachricht|weitergeleitete nachricht|originalnachricht"
    r"|mensaje original|mensaje reenviado|mensagem original|mensagem encaminhada|messaggio originale"
    r"|messaggio inoltrato|oorspronkelijk bericht|origineel bericht|doorgestuurd bericht"
    r"|oprindelig besked|oprindelig meddelelse|videresendt besked|opprinnelig melding|ursprungligt meddelande"
    r"|vidarebefordrat meddelande|alkuperäinen viesti|välitetty viesti|wiadomość oryginalna|oryginalna wiadomość"
    r"|przekazana wiadomość|исходное сообщение|пересылаемое сообщение|пересланное сообщение|оригинальное сообщение"
    r"|原始邮件|原始郵件|转发的邮件|轉寄的郵件|元のメッセージ|転送されたメッセージ|원본 메시지|전달된 메시지"
    r"|الرسالة الأصلية|رسالة معاد توجيهها"
    r")[\s\-_=*:]*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(
    r"^\s*[*>]*\s*(from|von|de|da|van|fra|från|od|от|відправник|发件人|寄件者|寄件人|差出人|보낸 사람|من|lähettäjä|frá"
    r"|kimden|message du|expéditeur|remitente|mittente|afzender|avsändare|nadawca)\s*[*]?\s*[:：]",
    re.IGNORECASE,
)
_HEADER_NEXT = re.compile(
    r"^\s*[*>]*\s*(sent|date|to|subject|cc|gesendet|datum|an|betreff|envoyé(?: le)?|date|à|objet|copie à|sujet"
    r"|enviado(?: el)?|fecha|para|asunto|inviato|data|a|oggetto|verzonden|aan|onderwerp|sendt|dato|til|emne"
    r"|skickat|till|ämne|wysłano|do|temat|data wysłania|отправлено|дата|кому|тема|надіслано|发送时间|发送日期|收件人"
    r"|主题|主旨|日期|日付|送信日時|宛先|件名|보낸 날짜|받는 사람|제목|تاريخ|إلى|الموضوع|lähetetty|vastaanottaja"
    r"|aihe|gönderildi|kime|konu)\s*[*]?\s*[:：]",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*(_{8,}|-{8,}|={8,}|—{3,})\s*$")
# Signatures: the "-- " delimiter (and bare "--"), underscore or dash rules, "-Name" sign-offs.
_SIGNATURE_START = re.compile(
    r"^(--\s*|_{2,}\s*|[—–]+\s*|—-\s*|-[A-Za-z][\w.]*(\s[\w.]+){0,3}\s*|disclaimer:?)$", re.IGNORECASE
)
# A mobile or client tagline, as a whole line only ("Sent from my iPhone", not "sent from my iPhone app to...").
_TAGLINE = re.compile(
    r"^[(<\[]*\s*(sent (from|with|via|using) |sent from my |get outlook for |envoyé (de|depuis|à partir de|avec) "
    r"|envoyé de mon |gesendet von |von meinem .{1,40} gesendet|enviado (desde|do|de) (mi|meu|o)? ?|inviato da "
    r"|verzonden (met|vanaf|van) |skickat från |sendt fra |lähetetty |wysłane z |отправлено (с|из) "
    r"|从我的|從我的|由我的|iphoneから送信|androidから送信|나의 |diese nachricht wurde von meinem"
    r"|download outlook for|скачайте outlook)",
    re.IGNORECASE,
)
_TAGLINE_EXCUSES = re.compile(r"typo|excuse|brevity|short|pardon|entschuldig", re.IGNORECASE)
_BANNER = re.compile(
    r"^\s*\[?(caution|warning|external( email)?|attention)\]?\s*:.*\b(outside|external)\b", re.IGNORECASE
)


def decode_part(part: Message) -> str:
    """A text part's content. A charset Python does not know, or one the bytes do not match, is sniffed."""
    payload = part.get_payload(decode=True)
    raw = payload if isinstance(payload, bytes) else str(part.get_payload()).encode("utf-8", "replace")
    declared = (part.get_content_charset() or "us-ascii").lower()
    declared = CHARSET_ALIASES.get(declared, declared)
    if declared not in {"utf-8", "utf8"} and not raw.isascii():
        try:  # a client that says latin-1 (or nothing) but writes UTF-8: UTF-8 decodes only if it is UTF-8
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode(declared)
    except (LookupError, UnicodeDecodeError):
        best = from_bytes(raw).best()
        return str(best) if best is not None else raw.decode("utf-8", "replace")


def body_text(message: EmailMessage) -> str:
    """The reply's text: its text/plain part, or else its HTML part with the quoted parts marked ``>``."""
    try:
        body = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, ValueError, TypeError, RecursionError):
        body = None
    if body is None:
        return ""
    content = decode_part(body)
    if body.get_content_type() == "text/html":
        return html_to_text(content)
    return content


def reply_text(message: EmailMessage) -> str:
    """The text the sender wrote in this reply, without the quoted message and the signature."""
    return own_text(body_text(message))


def own_text(text: str) -> str:
    """The lines the sender wrote: the text before the quoted message, and what they wrote between its quotes."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [line for line in lines if not _BANNER.match(line)]
    kept: list[str] = []
    index, written = 0, False
    while index < len(lines):
        line = lines[index]
        if _is_quoted(line):
            index += 1
            continue
        header = _header_block_length(lines, index)
        if header:
            if written:
                break  # an Outlook-style quote: everything from here is the earlier message
            index += header  # a copy of the message's own headers at the top: not the reply's text
            continue
        attribution = _attribution_length(lines, index)
        if attribution or _SEPARATOR.match(line) or _rule_before_header(lines, index):
            after = _next_text(lines, index + max(attribution, 1))
            if attribution and after is not None and _is_quoted(lines[after]):
                index += attribution  # "On ... wrote:" over "> " lines: the sender may answer in between
                continue
            break
        if line.strip():
            written = True
        kept.append(line)
        index += 1
    return _strip_signature(kept)


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _next_text(lines: list[str], start: int) -> int | None:
    return next((i for i in range(start, len(lines)) if lines[i].strip()), None)


def _attribution_length(lines: list[str], index: int) -> int:
    """How many lines the attribution starting here spans (mail clients wrap it), or 0."""
    first = lines[index].strip()
    if not first or len(first) > 400:
        return 0
    for extra in range(4):
        if index + extra >= len(lines) or (extra and not lines[index + extra].strip()):
            return 0
        joined = " ".join(part.strip() for part in lines[index : index + extra + 1])
        if len(joined) > 400:
            return 0
        ends = joined.rstrip(" -").rstrip()
        starts = _ATTRIBUTION_START.match(first) or re.search(r"\d|@", joined)
        dated = re.search(r"\d|@|<", joined) or ends.endswith((":", "："))
        if _ATTRIBUTION.match(ends) and starts and dated:
            return extra + 1
        if _DATED_ADDRESS.search(joined) and re.search(r"@|<", joined) and len(joined) < 250:
            return extra + 1
    return 0


def _header_block_length(lines: list[str], index: int) -> int:
    """A quoted message's header block ("From: ..." and then "Sent:", "To:", "Subject:"...): its length, or 0."""
    if not _HEADER_FROM.match(lines[index]):
        return 0
    end, headers = index + 1, 1
    while end < len(lines) and end <= index + 8:
        line = lines[end]
        if _HEADER_NEXT.match(line) or _HEADER_FROM.match(line):
            headers += 1
        elif not line.strip() or (headers >= 2 and end > index + 1 and not _HEADER_NEXT.match(line)):
            if headers >= 2:
                break
            if not line.strip():
                return 0
        end += 1
    return end - index if headers >= 2 else 0


def _rule_before_header(lines: list[str], index: int) -> bool:
    """An Outlook rule (a line of underscores or dashes) with a header block just under it."""
    if not _RULE.match(lines[index]):
        return False
    after = _next_text(lines, index + 1)
    return after is not None and after <= index + 3 and bool(_HEADER_FROM.match(lines[after]))


def _strip_signature(lines: list[str]) -> str:
    """Cut each run of the sender's text at its signature; what is left, as one text."""
    kept: list[str] = []
    in_signature = False
    for line in lines:
        stripped = line.strip()
        if in_signature:
            continue
        if _SIGNATURE_START.match(stripped) or _is_tagline(stripped):
            in_signature = True
            continue
        kept.append(line)
    return "\n".join(kept).strip()


def _is_tagline(line: str) -> bool:
    if not _TAGLINE.match(line) or len(line) > 90:
        return False
    return "," not in line or bool(_TAGLINE_EXCUSES.search(line))


class _TextExtractor(HTMLParser):
    """The visible text of an HTML reply, with what mail clients mark as the quoted message written as ``>`` lines.

    Gmail, Outlook, Apple Mail, Yahoo and Thunderbird each mark the quote their own way: a blockquote, or a
    container whose class or id says so; Outlook puts a rule with a header block above it instead.
    """

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "table", "blockquote", "hr", "pre"})
    HIDDEN = frozenset({"style", "script", "head", "title"})
    VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "wbr"})
    QUOTE_MARKERS = (
        "gmail_quote", "divrplyfwdmsg", "appendonsend", "moz-cite-prefix", "yahoo_quoted", "olk_src_body_section",
        "mail_android_quote", "protonmail_quote", "zmail_extra", "replyforward", "x_divrplyfwdmsg", "ymail_android",
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0
        self._quote = 0
        self._stack: list[tuple[str, bool, bool]] = []  # per open element: tag, hides, quotes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCKS:
            self._newline()
        if tag == "hr":
            self.parts.append("________________________________\n")
        if tag in self.VOID:
            return
        marks = " ".join(value or "" for name, value in attrs if name in {"class", "id", "type"}).lower()
        quotes = tag == "blockquote" or any(marker in marks for marker in self.QUOTE_MARKERS) or marks == "cite"
        hides = tag in self.HIDDEN
        self._stack.append((tag, hides, quotes))
        self._hidden += hides
        self._quote += quotes

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not any(open_tag == tag for open_tag, _, _ in self._stack):
            return
        while self._stack:
            open_tag, hides, quotes = self._stack.pop()
            self._hidden -= hides
            self._quote -= quotes
            if open_tag == tag:
                break
        if tag in self.BLOCKS:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        text = re.sub(r"[ \t\r\n\xa0]+", " ", data)
        if self._quote:
            text = text.replace("\n", "\n> ")
            if not self.parts or self.parts[-1].endswith("\n"):
                text = "> " + text.lstrip()
        self.parts.append(text)

    def _newline(self) -> None:
        self.parts.append("\n")


def html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = "".join(extractor.parts)
    lines = [line.strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
