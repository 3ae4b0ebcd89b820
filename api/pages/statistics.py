"""The statistics page (``/stats``): the registry's figures in the sections of the UN Secretary-General's
partnerships reports, each chart drawn on the server (api.pages.charts) beside the table of its numbers.

The figures are the API's own (``GET /api/v1/registry/stats``, pledgeflow.registry.stats) under the same
filters as the registry page; implementation and reporting by year come from pledgeflow.registry.listing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from api.deps import SessionDep
from api.pages import charts, labels
from api.pages.forms import FormValues
from api.pages.languages import language_of
from api.pages.public import FILTER_NAMES, LIVE, STATUS_CHOICES, filters_of
from api.pages.rendering import render
from api.pages.routing import page_router
from api.problems import ProblemError
from pledgeflow import i18n
from pledgeflow.i18n import N_
from pledgeflow.registry import listing
from pledgeflow.registry.search import RegistryFilters
from pledgeflow.registry.stats import RegistryStats, Share, cached_registry_stats
from workflows.submission import Implementation

router = page_router("pages: statistics")

COUNTRIES_SHOWN = 15
REGIONS_SHOWN = 12


@dataclass(frozen=True)
class Row:
    label: str  # already in the page's language
    count: float
    share: float | None = None


@dataclass
class Section:
    key: str
    title: str  # an English catalogue message
    rows: list[Row]
    value_kind: str = "count"  # count | share: what the bars measure
    note: str | None = None
    extra_columns: list[str] = field(default_factory=list)


def _shares(items: list[Share], language: str) -> list[Row]:
    return [Row(i18n.gettext(language, labels.label(item.key)), item.count, item.share) for item in items]


def sections(session: Session, filters: RegistryFilters, language: str) -> tuple[RegistryStats, list[Section]]:
    stats = cached_registry_stats(session, filters, dt.datetime.now(dt.UTC))
    countries = i18n.country_names(language)
    sdg_words = {str(number): f"{number}. {i18n.gettext(language, name)}" for number, name in labels.SDG_NAMES.items()}
    # Read now, not from the minute-old figures: its shares are of the pledges covered now.
    implementation = listing.by_implementation(session, filters)
    total = listing.count(session, filters)
    years = listing.reporting_by_year(session, filters)
    unspecified = i18n.gettext(language, labels.label("unspecified"))
    regions = [
        Row(unspecified if s.key == "unspecified" else s.key, s.count, s.share) for s in stats.by_region[:REGIONS_SHOWN]
    ]
    found = [
        Section("sdg", N_("SDG coverage"), [Row(sdg_words[s.key], s.count, s.share) for s in stats.by_sdg],
                note=N_("A pledge can name several goals, so the shares add up to more than 100%%.")),
        Section("scope", N_("Geographic scope"), _shares(stats.by_scope, language)),
        Section("region", N_("Regions"), regions,
                note=N_("Regions as the pledgers name them; a pledge can name several.")),
        Section("country", N_("Countries"),
                [Row(countries.get(s.key, s.key), s.count, s.share) for s in stats.by_country[:COUNTRIES_SHOWN]],
                note=N_("The countries named most often, where the pledges are carried out.")),
        Section("time_frame", N_("Time frame"), _shares(stats.by_time_frame, language)),
        Section("organization_type", N_("Who pledges"), _shares(stats.by_organization_type, language)),
        Section("pledge_type", N_("Types of pledge"), _shares(stats.by_pledge_type, language)),
        Section("implementation", N_("Implementation"),
                [Row(i18n.gettext(language, labels.label(way)), implementation[way.value],
                     round(implementation[way.value] / total, 4) if total else 0.0) for way in Implementation],
                note=N_("A pledge can name several ways of implementation.")),
        Section("status", N_("Status"), _shares(stats.by_status, language)),
        Section("reporting", N_("Reporting compliance over time"),
                [Row(str(year.year), year.share or 0.0, None) for year in years], value_kind="share",
                note=N_("Per calendar year: reports that counted for a reporting cycle, "
                        "out of the report requests sent.")),
    ]  # fmt: skip
    return stats, [section for section in found if section.rows or section.key in {"region", "reporting"}]


def filters_query(request: Request) -> str:
    params = request.query_params
    return urlencode([(name, value) for name in FILTER_NAMES for value in params.getlist(name) if value.strip()])


@router.get("/stats", response_class=HTMLResponse, name="stats_page")
def statistics(request: Request, session: SessionDep) -> HTMLResponse:
    filters, errors, raw = filters_of(request)
    language = language_of(request)
    stats, found = sections(session, filters, language)
    query = filters_query(request)
    values = FormValues(single={name: items[-1] for name, items in raw.items() if items}, multiple=raw)
    values.single.setdefault("status", LIVE)
    years = listing.reporting_by_year(session, filters)
    return render(
        request,
        "stats.html",
        stats=stats,
        sections=found,
        years=years,
        reports=listing.reports_received(session, filters),
        chart_query=urlencode([("lang", language)]) + (f"&{query}" if query else ""),
        registry_url=f"/registry?{query}" if query else "/registry",
        values=values,
        errors=errors,
        filtered=bool(query),
        filters_in_use=sum(1 for name in FILTER_NAMES if raw[name] and name != "q"),
        status_choices=STATUS_CHOICES,
        sort_choices=None,
    )


@router.get("/stats/charts/{key}.svg", name="stats_chart")
def chart(key: str, request: Request, session: SessionDep) -> Response:
    filters, _, _ = filters_of(request)
    language = i18n.supported(request.query_params.get("lang")) or language_of(request)
    _, found = sections(session, filters, language)
    section = next((section for section in found if section.key == key), None)
    if section is None:
        raise ProblemError(404, f"no chart {key}")

    def says(value: float) -> str:
        return i18n.percent(value, language) if section.value_kind == "share" else i18n.number(value, language)

    svg = charts.bar_chart([(row.label, row.count) for row in section.rows], says)
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff", "Vary": "Cookie"},
    )
