"""The public registry as pages: the landing page, search with filters and cursor paging, a pledge's page.

It reads only the registry projection, through the public-registry modules the JSON API uses, so the
pages show exactly what the API publishes (no contact e-mail anywhere).
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, SettingsDep
from api.pages import labels
from api.pages.forms import FieldErrors, FormValues, Message
from api.pages.languages import COOKIE, ONE_YEAR, local_path
from api.pages.rendering import redirect, render
from api.pages.routing import page_router
from api.problems import ProblemError
from pledgeflow import i18n
from pledgeflow.i18n import N_
from pledgeflow.registry import listing
from pledgeflow.registry import related as registry_related
from pledgeflow.registry import search as registry_search
from pledgeflow.registry.listing import Sort, SortedCursor
from pledgeflow.registry.public import (
    PublicStatus,
    public_pledge,
    public_report,
    public_status,
    public_timeline_entry,
)
from pledgeflow.registry.search import CursorCodec, CursorError, RegistryFilters
from pledgeflow.registry.stats import cached_registry_stats
from workflows.submission import GeographicScope, OrganizationType

router = page_router("pages: registry")

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
NEWEST_ON_LANDING = 6
RELATED_SHOWN = 5
FILTER_NAMES = ("q", "sdg", "country", "organization_type", "scope", "status")
# Without a status filter the registry shows the live pledges; "any" shows the closed ones too.
LIVE = "live"
ANY = "any"
LIVE_STATUSES = tuple(status for status in PublicStatus if status != PublicStatus.closed)
STATUS_CHOICES = [(LIVE, N_("Live pledges (all but closed)")), (ANY, N_("Any status, closed included"))]
SORT_WORDS = {
    Sort.newest: N_("Newest first"),
    Sort.a_to_z: N_("Title, A to Z"),
    Sort.deadline: N_("Next report due first"),
    Sort.resources: N_("Largest pledged amount first"),
}


def filters_of(request: Request) -> tuple[RegistryFilters, FieldErrors, dict[str, list[str]]]:
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
            errors.add("sdg", Message(N_("“%(value)s” is not an SDG number from 1 to 17."), {"value": value}))
    country = raw["country"][-1].strip().upper() if raw["country"] else None
    if country is not None and country not in i18n.country_names(i18n.DEFAULT):
        errors.add("country", Message(N_("Choose a country from the list.")))
        country = None
    organization_type = _choice(raw["organization_type"], OrganizationType, "organization_type", errors)
    scope = _choice(raw["scope"], GeographicScope, "scope", errors)
    statuses: list[PublicStatus] = []
    for value in raw["status"] or [LIVE]:
        if value == LIVE:
            statuses.extend(LIVE_STATUSES)
        elif value == ANY:
            statuses = list(PublicStatus)
            break
        elif (status := public_status(value)) is not None:
            statuses.append(status)
        else:
            errors.add("status", Message(N_("“%(value)s” is not a registry status."), {"value": value}))
    filters = registry_search.filters_from(q, sdgs, country, organization_type, scope, sorted(set(statuses)))
    return filters, errors, raw


def _export_query(filters: RegistryFilters) -> str:
    """The same filters as the API's export and statistics take them."""
    pairs: list[tuple[str, str]] = []
    if filters.q:
        pairs.append(("q", filters.q))
    pairs += [("sdg", str(sdg)) for sdg in filters.sdgs]
    if filters.country:
        pairs.append(("country", filters.country))
    if filters.organization_type:
        pairs.append(("organization_type", filters.organization_type.value))
    if filters.scope:
        pairs.append(("scope", filters.scope.value))
    if set(filters.statuses) != set(PublicStatus):
        pairs += [("status", status.value) for status in filters.statuses]
    return urlencode(pairs)


Choice = TypeVar("Choice", OrganizationType, GeographicScope)


def _choice(values: list[str], kind: type[Choice], name: str, errors: FieldErrors) -> Choice | None:
    if not values:
        return None
    try:
        return kind(values[-1])
    except ValueError:
        errors.add(name, Message(N_("“%(value)s” is not one of the choices."), {"value": values[-1]}))
        return None


def _page_size(value: str | None, errors: FieldErrors) -> int:
    """Pledges per page: 20 unless the address asks for 1 to 100."""
    if value is None or value == "":
        return PAGE_SIZE
    if value.isdigit() and 1 <= int(value) <= MAX_PAGE_SIZE:
        return int(value)
    errors.add(
        None,
        Message(
            N_("A page holds 1 to %(most)s pledges; showing %(shown)s."), {"most": MAX_PAGE_SIZE, "shown": PAGE_SIZE}
        ),
    )
    return PAGE_SIZE


@router.get("/language/{code}", name="language_switch")
def switch_language(code: str, request: Request) -> Response:
    """The language switch: remember the choice in this browser, and go back to the page it was made on."""
    response = redirect(local_path(request.query_params.get("next")))
    if (language := i18n.supported(code)) is not None:
        response.set_cookie(COOKIE, language, max_age=ONE_YEAR, samesite="lax", path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    rows = registry_search.newest(session, NEWEST_ON_LANDING)
    newest = [public_pledge(row, settings.public_base_url) for row in rows]
    stats = cached_registry_stats(session, RegistryFilters(), dt.datetime.now(dt.UTC))
    return render(request, "home.html", newest=newest, badge=labels.badge, stats=stats)


def _sort(value: str | None, errors: FieldErrors) -> Sort:
    if not value:
        return Sort.newest
    try:
        return Sort(value)
    except ValueError:
        errors.add("sort", Message(N_("“%(value)s” is not one of the choices."), {"value": value}))
        return Sort.newest


@router.get("/registry", response_class=HTMLResponse)
def registry(request: Request, session: SessionDep, settings: SettingsDep) -> HTMLResponse:
    filters, errors, raw = filters_of(request)
    params = request.query_params
    cursor = params.get("cursor") or None
    limit = _page_size(params.get("limit"), errors)
    sort = _sort(params.get("sort"), errors)
    page_number = int(params["page"]) if params.get("page", "").isdigit() and cursor else 1
    codec, cursors = CursorCodec(settings.signing_key()), SortedCursor(settings.signing_key())
    try:
        rows, next_cursor = listing.page(session, codec, cursors, filters, sort, limit, cursor)
    except CursorError:
        errors.add(None, Message(N_("That page link no longer matches this search; here is its first page.")))
        cursor, page_number = None, 1
        rows, next_cursor = listing.page(session, codec, cursors, filters, sort, limit, None)
    kept = [(name, value) for name in FILTER_NAMES for value in raw[name]]
    if sort != Sort.newest:
        kept.append(("sort", sort.value))
    if limit != PAGE_SIZE:
        kept.append(("limit", str(limit)))
    total = listing.count(session, filters)
    first = (page_number - 1) * limit
    values = FormValues(single={name: items[-1] for name, items in raw.items() if items}, multiple=raw)
    values.single.setdefault("status", LIVE)
    values.single["sort"] = sort.value
    chosen = sum(1 for name in FILTER_NAMES if raw[name] and name != "q")
    export = _export_query(filters)
    return render(
        request,
        "registry_list.html",
        status_code=200,
        pledges=[public_pledge(row, settings.public_base_url) for row in rows],
        errors=errors,
        values=values,
        filtered=bool(kept),
        filters_in_use=chosen,
        total=total,
        shown_from=first + 1 if rows else 0,
        shown_to=first + len(rows),
        first_page=cursor is None,
        next_url=(
            f"/registry?{urlencode([*kept, ('cursor', next_cursor), ('page', str(page_number + 1))])}"
            if next_cursor
            else None
        ),
        first_url=f"/registry?{urlencode(kept)}" if kept else "/registry",
        csv_url=f"/api/v1/registry/export.csv?{export}" if export else "/api/v1/registry/export.csv",
        json_url=f"/api/v1/registry/export.json?{export}" if export else "/api/v1/registry/export.json",
        stats_url=f"/stats?{urlencode([(n, v) for n, v in kept if n in FILTER_NAMES])}" if kept else "/stats",
        status_choices=STATUS_CHOICES,
        sort_choices=list(SORT_WORDS.items()),
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
        now=dt.datetime.now(dt.UTC),
    )
