"""The public registry as pages: the landing page, search with filters and cursor paging, a pledge's page.

It reads only the registry projection, through the public-registry modules the JSON API uses, so the
pages show exactly what the API publishes (no contact e-mail anywhere).
"""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.pages import labels
from api.pages.forms import FieldErrors, FormValues
from api.pages.rendering import render
from api.pages.routing import page_router
from api.problems import ProblemError
from pledgeflow.registry import related as registry_related
from pledgeflow.registry import search as registry_search
from pledgeflow.registry.public import public_pledge, public_report, public_status, public_timeline_entry
from pledgeflow.registry.search import CursorCodec, CursorError, RegistryFilters
from workflows.submission import GeographicScope, OrganizationType

router = page_router("pages: registry")

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
NEWEST_ON_LANDING = 6
RELATED_SHOWN = 5
FILTER_NAMES = ("q", "sdg", "country", "organization_type", "scope", "status")


def _filters(request: Request) -> tuple[RegistryFilters, FieldErrors, dict[str, list[str]]]:
    """The search filters from the query string; a bad value is reported by its input, never a 422 page."""
    params = request.query_params
    errors = FieldErrors()
    raw = {name: [value for value in params.getlist(name) if value.strip()] for name in FILTER_NAMES}
    q = raw["q"][-1].strip()[:200] if raw["q"] else None
    sdgs = []
    for value in raw["sdg"]:
        if value.isdigit() and 1 <= int(value) <= 17:
            sdgs.append(int(value))
        else:
            errors.add("sdg", f"{value!r} is not an SDG number from 1 to 17.")
    country = raw["country"][-1].strip() if raw["country"] else None
    if country is not None and not (len(country) == 3 and country.isascii() and country.isalpha()):
        errors.add("country", "Use a three-letter country code (ISO 3166-1 alpha-3), like KEN.")
        country = None
    organization_type = _choice(raw["organization_type"], OrganizationType, "organization_type", errors)
    scope = _choice(raw["scope"], GeographicScope, "scope", errors)
    statuses = []
    for value in raw["status"]:
        if (status := public_status(value)) is not None:
            statuses.append(status)
        else:
            errors.add("status", f"{value!r} is not a registry status.")
    filters = registry_search.filters_from(q, sdgs, country, organization_type, scope, statuses)
    return filters, errors, raw


Choice = TypeVar("Choice", OrganizationType, GeographicScope)


def _choice(values: list[str], kind: type[Choice], name: str, errors: FieldErrors) -> Choice | None:
    if not values:
        return None
    try:
        return kind(values[-1])
    except ValueError:
        errors.add(name, f"{values[-1]!r} is not one of the choices.")
        return None


def _page_size(value: str | None, errors: FieldErrors) -> int:
    """Pledges per page: 20 unless the address asks for 1 to 100."""
    if value is None or value == "":
        return PAGE_SIZE
    if value.isdigit() and 1 <= int(value) <= MAX_PAGE_SIZE:
        return int(value)
    errors.add(None, f"A page holds 1 to {MAX_PAGE_SIZE} pledges; showing {PAGE_SIZE}.")
    return PAGE_SIZE


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    rows = registry_search.newest(session, NEWEST_ON_LANDING)
    newest = [public_pledge(row, settings.public_base_url) for row in rows]
    return render(request, "home.html", newest=newest, badge=labels.badge)


@router.get("/registry", response_class=HTMLResponse)
def registry(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    filters, errors, raw = _filters(request)
    cursor = request.query_params.get("cursor") or None
    limit = _page_size(request.query_params.get("limit"), errors)
    codec = CursorCodec(settings.signing_key())
    try:
        rows, next_cursor = registry_search.search(session, codec, filters, limit, cursor)
    except CursorError as exc:
        errors.add(None, f"That page link no longer matches this search ({exc}).")
        cursor = None
        rows, next_cursor = registry_search.search(session, codec, filters, limit, None)
    kept = [(name, value) for name in FILTER_NAMES for value in raw[name]]
    if limit != PAGE_SIZE:
        kept.append(("limit", str(limit)))
    return render(
        request,
        "registry_list.html",
        status_code=200,
        pledges=[public_pledge(row, settings.public_base_url) for row in rows],
        errors=errors,
        values=FormValues(single={name: items[-1] for name, items in raw.items() if items}, multiple=raw),
        filtered=bool(kept),
        first_page=cursor is None,
        next_url=f"/registry?{urlencode([*kept, ('cursor', next_cursor)])}" if next_cursor else None,
        first_url=f"/registry?{urlencode(kept)}" if kept else "/registry",
        badge=labels.badge,
    )


@router.get("/registry/{pledge_id}", response_class=HTMLResponse)
def pledge_page(pledge_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    row = registry_search.get_public(session, pledge_id[:16])
    if row is None:
        raise ProblemError(404, f"no published pledge {pledge_id[:16]}")
    return render(
        request,
        "registry_pledge.html",
        pledge=public_pledge(row, settings.public_base_url),
        reports=[
            public_report(report, row.organization_country) for report in registry_search.reports_of(session, row.id)
        ],
        timeline=[
            public_timeline_entry(entry, row.organization_country)
            for entry in registry_search.public_timeline_of(session, row.id)
        ],
        related=[
            (public_pledge(match.pledge, settings.public_base_url), match.reason)
            for match in registry_related.related_pledges(session, row, RELATED_SHOWN)
        ],
        badge=labels.badge,
    )
