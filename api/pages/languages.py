"""Which language a page speaks, and the switch on every page (docs/pages.md).

In order: the language this browser chose with the switch (a cookie), the pledge's own language on the
pages of its pledger (chosen on submission), the browser's ``Accept-Language``, English. The switch is a
plain link, so it works without JavaScript: it sets the cookie and sends the browser back where it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request

from pledgeflow import i18n

COOKIE = "pf_lang"
ONE_YEAR = 365 * 86_400


@dataclass(frozen=True)
class LanguageLink:
    code: str
    name: str
    url: str
    current: bool


def language_of(request: Request) -> str:
    chosen = i18n.supported(request.cookies.get(COOKIE))
    pledge = i18n.supported(getattr(request.state, "pledge_language", None))
    browser = i18n.from_accept_language(request.headers.get("accept-language"))
    return chosen or pledge or browser or i18n.DEFAULT


def speak_pledge_language(request: Request, language: str) -> None:
    """A pledger's page speaks the pledge's language unless this browser chose another."""
    request.state.pledge_language = language


def local_path(target: str | None) -> str:
    """Where the switch may send the browser back to: a path on this site, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def switch_links(request: Request, current: str) -> list[LanguageLink]:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    back = quote(here, safe="")
    return [
        LanguageLink(code, name, f"/language/{code}?next={back}", code == current)
        for code, name in i18n.LANGUAGES.items()
    ]
