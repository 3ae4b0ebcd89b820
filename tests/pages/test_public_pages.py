"""The public registry pages: landing, search with filters and cursor paging, a pledge's page."""

from __future__ import annotations

import html as html_lib
import re
import uuid

from tests.factories import submission_data
from tests.pages.conftest import Site, api_report, api_submit, published, registry_row


def _result_ids(page: str) -> list[str]:
    return re.findall(r'<h3><a href="/registry/(PF-\w+)">', page)


async def test_registry_lists_published_pledges_with_a_worded_status_badge(site: Site) -> None:
    marker = uuid.uuid4().hex[:8]
    pledge = await published(site, title=f"Solar kiosks for 40 clinics {marker}")
    waiting = await api_submit(site, title=f"Mobile libraries in review {marker}")
    await registry_row(site, waiting.id, status="in_review")
    async with site.client() as http:
        response = await http.get("/registry", params={"q": marker})
        landing = await http.get("/")
    assert response.status_code == 200
    page = response.text
    assert _result_ids(page) == [pledge.id]
    assert f"Solar kiosks for 40 clinics {marker}" in page
    assert "Mobile libraries in review" not in page  # never published: not in the registry
    # The traffic light is a colour, a shape and words: never colour alone.
    badge = r'class="badge badge--green"><span class="badge__symbol" aria-hidden="true">●</span> Published'
    assert re.search(badge, page)
    assert f'value="{marker}"' in page  # the search box keeps the words
    assert landing.status_code == 200 and f'href="/registry/{pledge.id}"' in landing.text


async def test_filters_narrow_the_results_and_bad_values_are_named_by_their_input(site: Site) -> None:
    marker = uuid.uuid4().hex[:8]
    kenya = await published(site, title=f"Clinics in Kenya {marker}", sdgs=[3], sdg_targets=[])
    peru = await published(
        site, title=f"Schools in Peru {marker}", sdgs=[4], sdg_targets=[], countries=["PER"], geographic_scope="local"
    )
    async with site.client() as http:
        by_sdg = await http.get("/registry", params={"q": marker, "sdg": "3"})
        by_country = await http.get("/registry", params={"q": marker, "country": "per"})
        by_scope = await http.get("/registry", params={"q": marker, "scope": "local", "status": "published"})
        bad = await http.get("/registry", params={"q": marker, "sdg": "18", "country": "K3N", "scope": "galactic"})
    assert _result_ids(by_sdg.text) == [kenya.id]
    assert '<option value="3" selected>' in by_sdg.text
    assert _result_ids(by_country.text) == [peru.id]
    assert _result_ids(by_scope.text) == [peru.id]
    assert bad.status_code == 200
    for field, words in (
        ("sdg", "not an SDG number from 1 to 17"),
        ("country", "Choose a country from the list."),
        ("scope", "not one of the choices"),
    ):
        error = re.search(rf'<p class="field-error" id="field-{field}-error">(.*?)</p>', bad.text, re.DOTALL)
        assert error and words in html_lib.unescape(error.group(1)), field
        # The input itself points at its message, for screen readers.
        described = rf'id="field-{field}" [^>]*aria-describedby="[^"]*field-{field}-error" aria-invalid="true"'
        assert re.search(described, bad.text)
    # The valid filters still apply: both pledges match the words.
    assert sorted(_result_ids(bad.text)) == sorted([kenya.id, peru.id])


async def test_next_page_link_walks_every_match_once(site: Site) -> None:
    marker = uuid.uuid4().hex[:8]
    made = [await published(site, title=f"Water points batch {marker} no {number}") for number in range(3)]
    seen: list[str] = []
    async with site.client() as http:
        url: str | None = f"/registry?q={marker}&limit=2"
        while url:
            page = (await http.get(url)).text
            seen += _result_ids(page)
            found = re.search(r'<a class="button button--secondary" href="([^"]+)" rel="next">', page)
            url = html_lib.unescape(found.group(1)) if found else None
            if url:
                assert f"q={marker}" in url and "limit=2" in url  # the filters travel with the cursor
        tampered = await http.get("/registry", params={"q": marker, "cursor": "not-a-cursor"})
    assert seen == [pledge.id for pledge in reversed(made)]  # newest publication first
    assert "That page link no longer matches this search" in tampered.text
    assert len(_result_ids(tampered.text)) == 3  # back on the first page


async def test_pledge_page_shows_facts_reports_and_timeline_but_no_contact(site: Site) -> None:
    pledge = await published(site)
    await registry_row(site, pledge.id, status="report_due")
    await api_report(site, pledge, narrative="We connected 230 schools & trained 1,100 teachers <this year>.")
    await registry_row(site, pledge.id, status="published")
    async with site.client() as http:
        response = await http.get(f"/registry/{pledge.id}")
    assert response.status_code == 200
    page = response.text
    data = submission_data()
    assert data["title"] in page
    assert "Connect Africa Foundation" in page
    assert "200 schools connected" in page  # a deliverable
    assert "We connected 230 schools &amp; trained 1,100 teachers &lt;this year&gt;." in page
    assert "Report for reporting cycle 1" in page
    assert "Pledge submitted for review." in page  # the public timeline
    assert "Ministry of ICT" in page  # a partner
    for contact in (data["focal_point"]["email"], data["backup_contact"]["email"], "Amina Otieno"):
        assert contact not in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


async def test_closed_pledge_shows_its_reason(site: Site) -> None:
    pledge = await published(site)
    async with site.client() as http:
        withdrawn = await http.post(
            f"/api/v1/pledges/{pledge.id}/withdrawal",
            json={"reason": "Our funding ended."},
            headers={"Authorization": f"Bearer {pledge.manage_token}"},
        )
        assert withdrawn.status_code == 200, withdrawn.text
        await registry_row(site, pledge.id, status="closed")
        page = (await http.get(f"/registry/{pledge.id}")).text
    assert re.search(r'class="badge badge--grey">.*?</span> Closed: withdrawn', page)
    assert "<h2>Closed: Withdrawn</h2>" in page


async def test_unknown_pledge_is_a_404_page(site: Site) -> None:
    async with site.client() as http:
        response = await http.get("/registry/PF-0000000")
        in_review = await api_submit(site)
        await registry_row(site, in_review.id, status="in_review")
        unpublished = await http.get(f"/registry/{in_review.id}")
    for answer in (response, unpublished):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in answer.text
