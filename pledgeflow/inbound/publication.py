"""What the public sees of a reply by email: the sender's text without greeting, sign-off or the contacts' names.

The registry promises that contacts are never shown: a reply's greeting ("Dear Pledgeflow team,"), its
sign-off ("Best regards, Amina Otieno") and any mention of a contact's name are removed, and hard line
breaks inside paragraphs (mail clients wrap at 72 characters) are joined again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

NAME_WITHHELD = "[name withheld]"
_GREETING = re.compile(
    r"^(dear|hi|hello|hey|good (morning|afternoon|evening)|greetings|to whom it may concern|bonjour|bonsoir|cher|chère"
    r"|madame|monsieur|hola|estimad[oa]s?|buenos días|buenas tardes|olá|prezad[oa]s?|caro|cara|gentile|buongiorno|ciao"
    r"|liebe|lieber|sehr geehrte|hallo|guten tag|beste|geachte|hej|hei|hejsa|kære|dzień dobry|szanown[ia]|witam|cześć"
    r"|здравствуйте|добрый день|уважаем|привет|尊敬的|您好|你好|各位|拝啓|お世話になっております|안녕하세요"
    r"|السلام عليكم|مرحبا|عزيزي)\b.{0,60}[,:!]?$",
    re.IGNORECASE,
)
_VALEDICTION = re.compile(
    r"^(best|best regards|kind regards|warm regards|regards|many thanks|thanks|thank you|cheers|sincerely|yours"
    r"|yours sincerely|all the best|best wishes|with thanks|cordialement|bien à vous|salutations|amitiés|merci"
    r"|saludos|atentamente|un saludo|cordiales saludos|atenciosamente|abraços|cumprimentos|cordiali saluti|saluti"
    r"|distinti saluti|grazie|mit freundlichen grüßen|viele grüße|beste grüße|liebe grüße|grüße|danke|groeten"
    r"|met vriendelijke groet|vriendelijke groeten|mvh|med vänlig hälsning|vänliga hälsningar|med venlig hilsen"
    r"|hilsen|med vennlig hilsen|ystävällisin terveisin|terveisin|pozdrawiam|z poważaniem|z powazaniem"
    r"|с уважением|спасибо|всего доброго|此致|谢谢|祝好|よろしくお願いいたします|よろしくお願いします|以上"
    r"|감사합니다|مع التحية|مع خالص التحيات|شكرا)\b[\s,.!]*$",
    re.IGNORECASE,
)


def publishable(text: str, names: Sequence[str] = ()) -> str:
    """The reply as the public may read it."""
    lines = text.strip().split("\n")
    while lines and (_GREETING.match(lines[0].strip()) or not lines[0].strip()):
        lines.pop(0)
    for index in range(len(lines) - 1, max(-1, len(lines) - 8), -1):
        if _VALEDICTION.match(lines[index].strip()):
            lines = lines[:index]  # the sign-off and the name, title and phone number under it
            break
    result = _reflow("\n".join(lines).strip())
    for name in sorted({n.strip() for n in names if len(n.strip()) >= 3}, key=len, reverse=True):
        result = re.sub(rf"\b{re.escape(name)}\b", NAME_WITHHELD, result, flags=re.IGNORECASE)
        for part in name.split():
            if len(part) >= 3:
                result = re.sub(rf"(?<![\w\[]){re.escape(part)}\b", NAME_WITHHELD, result)
    return result.replace(f"{NAME_WITHHELD} {NAME_WITHHELD}", NAME_WITHHELD)


def _reflow(text: str) -> str:
    """Join a paragraph's hard-wrapped lines; keep lists, short lines and blank lines as they are."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.split("\n")
        out = [lines[0]]
        for line in lines[1:]:
            previous = out[-1]
            listed = re.match(r"^\s*([-*•]|\d+[.)])\s", line)
            if len(previous) >= 60 and not listed and line.strip() and not line.startswith((" ", "\t")):
                out[-1] = f"{previous.rstrip()} {line.strip()}"
            else:
                out.append(line)
        paragraphs.append("\n".join(out))
    return "\n\n".join(paragraphs)
