"""How every page is rendered: one autoescaping Jinja2 environment, the CSRF cookie, security headers.

Every template goes through :func:`render`, so no page can forget the CSRF token or the headers. The
Content-Security-Policy allows no script at all: the pages work without JavaScript, and an injection
that slipped past autoescaping would still not run. Links between pages are built from the routes'
names (:func:`page_url`, ``url(...)`` in templates), so a moved route cannot leave a dead link behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context

from api.pages import labels
from api.pages.csrf import CsrfGuard
from api.pages.forms import field_title
from pledgeflow.core.settings import Settings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Pledger pages carry their token in the URL; it must not leak to other sites in a Referer.
    "Referrer-Policy": "no-referrer",
}


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%d %b %Y, %H:%M UTC")
    return value.strftime("%d %b %Y")


def _iso(value: dt.date | dt.datetime) -> str:
    return value.isoformat()


def _usd(value: float | None) -> str:
    return "" if value is None else f"USD {value:,.0f}"


def _options(codes: list[Any]) -> list[tuple[str, str]]:
    """(value, words) pairs for a select or a group of checkboxes."""
    return [(code.value, labels.label(code)) for code in codes]


def page_url(request: Request, name: str, /, query: Mapping[str, str | None] | None = None, **path: str) -> str:
    """The path of the route called ``name``, with ``query`` (its ``None`` values left out)."""
    url = str(request.app.url_path_for(name, **path))
    given = {key: value for key, value in (query or {}).items() if value is not None}
    return f"{url}?{urlencode(given)}" if given else url


@pass_context
def _url(context: Context, name: str, /, query: Mapping[str, str | None] | None = None, **path: str) -> str:
    return page_url(context["request"], name, query, **path)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(date=_date, iso=_iso, usd=_usd, label=labels.label, field_title=field_title)
    environment.globals.update(
        url=_url,
        labels=labels,
        options=_options,
        sdg_options=[(number, f"{number}. {name}") for number, name in labels.SDG_NAMES.items()],
    )
    return environment


ENVIRONMENT = _environment()


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def guard_of(request: Request) -> CsrfGuard:
    return CsrfGuard(settings_of(request))


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page, with the browser's CSRF token in the context (and its cookie set if it had none)."""
    guard = guard_of(request)
    secret, is_new = guard.browser_secret(request)
    # A staff page's forms are bound to the staff session, every other form to the browser.
    staff_session = getattr(request.state, "staff_session", None)
    body = ENVIRONMENT.get_template(template).render(
        request=request,
        csrf_token=guard.token_for(staff_session.row.csrf_secret if staff_session else secret),
        staff=getattr(request.state, "staff", None),
        **context,
    )
    response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
    if is_new:
        guard.set_cookie(response, secret)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a POST that acted: the browser GETs the result, so a reload does not act twice."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
