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
from api.pages.forms import field_label, field_title
from api.pages.languages import language_of, switch_links
from pledgeflow import i18n
from pledgeflow.core.settings import Settings
from pledgeflow.i18n import templates

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


@pass_context
def _date(context: Context, value: dt.date | dt.datetime | None) -> str:
    """A day, or a time in UTC, as the page's language writes it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return i18n.moment(value, context["lang"])
    return i18n.day(value, context["lang"], "medium")


@pass_context
def _day(context: Context, value: dt.date | dt.datetime | None) -> str:
    return "" if value is None else i18n.day(value, context["lang"], "medium")


def _iso(value: dt.date | dt.datetime) -> str:
    return value.isoformat()


@pass_context
def _usd(context: Context, value: float | None) -> str:
    return "" if value is None else i18n.usd(value, context["lang"])


@pass_context
def _number(context: Context, value: float | None) -> str:
    return "" if value is None else i18n.number(value, context["lang"])


@pass_context
def _percent(context: Context, value: float | None) -> str:
    return "" if value is None else i18n.percent(value, context["lang"])


@pass_context
def _label(context: Context, code: object) -> str:
    """A product code (status, type, SDG...) in the page's words."""
    return i18n.gettext(context["lang"], labels.label(code))


@pass_context
def _country(context: Context, code: str) -> str:
    return i18n.country_names(context["lang"]).get(code, code)


@pass_context
def _options(context: Context, codes: list[Any]) -> list[tuple[str, str]]:
    """(value, words) pairs for a select or a group of checkboxes."""
    return [(code.value, _label(context, code)) for code in codes]


@pass_context
def _field_title(context: Context, name: str) -> str:
    return field_title(name, context["lang"])


@pass_context
def _sdg_options(context: Context) -> list[tuple[int, str]]:
    return [(number, f"{number}. {i18n.gettext(context['lang'], name)}") for number, name in labels.SDG_NAMES.items()]


@pass_context
def _country_options(context: Context) -> list[tuple[str, str]]:
    """Every ISO 3166-1 country by its name in the page's language, in that language's order."""
    names = i18n.country_names(context["lang"])
    return sorted(names.items(), key=lambda item: i18n.sort_key(item[1], context["lang"]))


def _language_options() -> list[tuple[str, str]]:
    return list(i18n.LANGUAGES.items())


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
        extensions=[templates.EXTENSION],
    )
    templates.speak_catalogues(environment)
    environment.filters.update(
        date=_date,
        day=_day,
        iso=_iso,
        usd=_usd,
        number=_number,
        percent=_percent,
        label=_label,
        country=_country,
    )
    environment.globals.update(
        url=_url,
        labels=labels,
        options=_options,
        field_label=field_label,
        field_title=_field_title,
        sdg_options=_sdg_options,
        country_options=_country_options,
        language_options=_language_options,
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
    lang = language_of(request)
    # A staff page's forms are bound to the staff session, every other form to the browser.
    staff_session = getattr(request.state, "staff_session", None)
    body = ENVIRONMENT.get_template(template).render(
        request=request,
        csrf_token=guard.token_for(staff_session.row.csrf_secret if staff_session else secret),
        staff=getattr(request.state, "staff", None),
        lang=lang,
        dir=i18n.direction(lang),
        languages=switch_links(request, lang),
        **context,
    )
    response = HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language, Cookie"
    if is_new:
        guard.set_cookie(response, secret)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a POST that acted: the browser GETs the result, so a reload does not act twice."""
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)
