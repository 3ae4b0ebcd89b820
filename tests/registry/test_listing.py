"""The registry page's listing on SQLite and PostgreSQL: counts, every order walked page by page exactly once,
live pledges by default, downloads of what is shown, and the statistics page drawn from the same filters."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import json
import re

import pytest

from pledgeflow.core.db import session_for
from pledgeflow.registry import listing
from pledgeflow.registry.listing import Sort, SortedCursor
from pledgeflow.registry.search import CursorCodec, RegistryFilters
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from workflows.state import ClosureReason, PledgeStatus

TITLES = ["Water for Lima", "acacia seedlings", "Water for Lima", "Zinc roofs", "Bridges in Laos", "Mangroves"]
AMOUNTS = [500.0, 0.0, 500.0, 2_000_000.0, 75_000.0, 500.0]


def seed(registry: Registry) -> list[str]:
    """Six published pledges with tied titles and amounts, two without a next deadline, and one closed."""
    made = []
    for number, (title, usd) in enumerate(zip(TITLES, AMOUNTS, strict=True)):
        state = registry.publish(
            title=title,
            resources={"financial_usd": usd},
            published_at=EPOCH + dt.timedelta(days=number),
            history=True,
        )
        made.append(state.pledge_id)
    registry.publish(
        title="Closed school meals",
        status=PledgeStatus.closed,
        closure_reason=ClosureReason.withdrawn,
        published_at=EPOCH + dt.timedelta(days=30),
    )
    return made


def _ids(page: str) -> list[str]:
    return re.findall(r'<h3><a href="/registry/(PF-\w+)">', page)


async def _walk(registry: Registry, query: str) -> list[str]:
    seen: list[str] = []
    url: str | None = f"/registry?{query}"
    while url:
        page = (await registry.http.get(url)).text
        seen += _ids(page)
        found = re.search(r'<a class="button button--secondary" href="([^"]+)" rel="next">', page)
        url = html.unescape(found.group(1)) if found else None
    return seen


@pytest.mark.parametrize("sort", list(Sort))
async def test_every_order_walks_every_pledge_once_in_its_order(registry: Registry, sort: Sort) -> None:
    made = seed(registry)
    seen = await _walk(registry, f"sort={sort.value}&limit=2")
    assert sorted(seen) == sorted(made)  # each once, the closed one left out
    with session_for(registry.url) as session:
        rows = {row_id: row for row_id in made if (row := session.get(listing.Pledge, row_id)) is not None}
    if sort == Sort.a_to_z:
        titles = [rows[pledge].title.lower() for pledge in seen]
        assert titles == sorted(titles)
    elif sort == Sort.resources:
        amounts = [rows[pledge].financial_usd for pledge in seen]
        assert amounts == sorted(amounts, reverse=True)
    elif sort == Sort.newest:
        assert seen == list(reversed(made))


async def test_a_deadline_order_puts_pledges_without_one_last(registry: Registry) -> None:
    due = [registry.publish(title=f"Due pledge {n}", published_at=EPOCH).pledge_id for n in range(3)]
    codec, cursors = CursorCodec(b"k"), SortedCursor(b"k")
    with session_for(registry.url) as session:
        for number, pledge_id in enumerate(due[:2]):
            row = session.get(listing.Pledge, pledge_id)
            assert row is not None
            row.next_deadline = EPOCH + dt.timedelta(days=10 - number)
            session.add(row)
        session.commit()
        first, cursor = listing.page(session, codec, cursors, RegistryFilters(), Sort.deadline, 2, None)
        rest, last = listing.page(session, codec, cursors, RegistryFilters(), Sort.deadline, 2, cursor)
    assert [row.id for row in first] == [due[1], due[0]] and [row.id for row in rest] == [due[2]] and last is None


async def test_the_page_counts_shows_live_pledges_by_default_and_offers_these_results(registry: Registry) -> None:
    made = seed(registry)
    live = (await registry.http.get("/registry")).text
    everything = (await registry.http.get("/registry", params={"status": "any"})).text
    closed = (await registry.http.get("/registry", params={"status": "closed"})).text
    assert "6 pledges" in live and sorted(_ids(live)) == sorted(made)
    assert "7 pledges" in everything and re.search(r'results__count">1 pledge\b', closed)
    assert '<link rel="alternate" type="application/atom+xml"' in live
    water = (await registry.http.get("/registry", params={"q": "Water", "country": "KEN"})).text
    csv_link = html.unescape(re.search(r'href="(/api/v1/registry/export\.csv[^"]*)"', water).group(1))  # type: ignore[union-attr]
    json_link = html.unescape(re.search(r'href="(/api/v1/registry/export\.json[^"]*)"', water).group(1))  # type: ignore[union-attr]
    rows = list(csv.DictReader(io.StringIO((await registry.http.get(csv_link)).text)))
    exported = json.loads((await registry.http.get(json_link)).text)
    assert "q=Water" in csv_link and "country=KEN" in csv_link and "status=published" in csv_link
    assert sorted(row["id"] for row in rows) == sorted(_ids(water)) == sorted(item["id"] for item in exported)
    assert len(rows) == 2
    assert "Kenya" in water  # countries by name, not by code


async def test_a_country_is_chosen_by_name_and_an_unknown_one_is_named(registry: Registry) -> None:
    seed(registry)
    page = (await registry.http.get("/registry", params={"country": "XXX"})).text
    assert '<option value="KEN">Kenya</option>' in page
    assert "Choose a country from the list." in page


async def test_statistics_page_has_each_section_with_its_chart_and_table(registry: Registry) -> None:
    seed(registry)
    page = (await registry.http.get("/stats")).text
    for section in ("sdg", "scope", "country", "time_frame", "organization_type", "pledge_type", "implementation"):
        assert f'id="{section}-title"' in page, section
        assert f'src="/stats/charts/{section}.svg?lang=en' in page, section
    assert page.count('<table class="table table--stat">') >= 10
    assert '<th scope="row">4. Quality education</th>' in page  # the factory pledges name SDG 4
    assert "Reporting compliance over time" in page and "Median without outliers" in page
    chart = await registry.http.get("/stats/charts/sdg.svg", params={"lang": "fr"})
    assert chart.status_code == 200 and chart.headers["content-type"].startswith("image/svg+xml")
    assert "<script" not in chart.text and "4. Éducation de qualité" in chart.text
    assert (await registry.http.get("/stats/charts/nothing.svg")).status_code == 404
    french = await registry.http.get("/stats", headers={"Accept-Language": "fr-CH, en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in french.text and "Couverture des ODD" in french.text


async def test_home_page_gives_the_headline_figures(registry: Registry) -> None:
    seed(registry)
    page = (await registry.http.get("/")).text
    assert "The registry in figures" in page
    # The sum of every public pledge's amount, the closed one's (the factory's USD 2,500,000) included.
    assert "USD 4,576,500" in page


async def test_reporting_by_year_counts_requests_from_the_timeline(registry: Registry) -> None:
    seed(registry)
    with session_for(registry.url) as session:
        years = listing.reporting_by_year(session, RegistryFilters())
    assert [(year.year, year.requested, year.received) for year in years] == [(2026, 6, 0)]
