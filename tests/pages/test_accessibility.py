"""axe-core, the accessibility engine (the npm package of package.json, installed by ``make test``), finds no
violation on any page people use, in English and in Arabic (right to left).

The pages run no script of their own; axe is injected into each by the test, in a browser profile that
lets the test's own script past the pages' Content-Security-Policy.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from pledgeflow.auth.staff_keys import Role
from tests.pages.conftest import (
    Made,
    Site,
    api_report,
    api_request_changes,
    api_submit,
    emailed,
    link_in,
    published,
    registry_row,
    snap,
)

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"


async def api_revise(site: Site, pledge: Made, **changes: object) -> None:
    from tests.factories import submission_data

    async with site.client() as http:
        response = await http.put(
            f"/api/v1/pledges/{pledge.id}/submission",
            json=submission_data(**changes),
            headers={"Authorization": f"Bearer {pledge.manage_token}", "If-Match": "*"},
        )
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
async def pages(site: Site) -> dict[str, str]:
    """Every page to check, each with the state that makes it show its parts (errors, a diff, reports)."""
    shown = await published(site, title="Solar power for 40 rural clinics in Uganda")
    await registry_row(site, shown.id, status="report_due")
    await api_report(site, shown, narrative="We powered 22 clinics and trained 41 technicians this year.")
    await registry_row(site, shown.id, status="published")
    asked = await api_submit(site, title="Mobile libraries for 60 villages in Nepal")
    await registry_row(site, asked.id, status="in_review")
    await api_request_changes(site, asked, "Please give the number of books per library.")
    revised = await api_submit(site, title="Clean cookstoves for 5,000 homes in Malawi")
    await registry_row(site, revised.id, status="in_review")
    await api_request_changes(site, revised, "Please name the partner that builds the stoves.")
    await api_revise(site, revised, title="Clean cookstoves for 5,000 homes in Malawi, built locally")
    await registry_row(site, revised.id, status="in_review", submission_version=2)
    report_email = await emailed(site, shown.id, "report_request")
    return {
        "home": "/",
        "registry": "/registry",
        "registry-filtered": "/registry?sdg=4&sort=title&status=any",
        "public-pledge": f"/registry/{shown.id}",
        "stats": "/stats",
        "submission-form": "/submit",
        "manage": f"/pledges/{shown.id}?token={shown.manage_token}",
        "report-form": link_in(report_email, rf"/pledges/{shown.id}/report\?token="),
        "revise": f"/pledges/{asked.id}/revise?token={asked.manage_token}",
        "withdraw": f"/pledges/{shown.id}/withdraw?token={shown.manage_token}",
        "not-found": "/registry/PF-0000000",
        "staff-login": "/staff/login",
        "staff-queue": "/staff/queue",
        "decision": f"/staff/pledges/{revised.id}",
    }


@pytest.fixture
async def checking(browser: Browser, site: Site, request: pytest.FixtureRequest) -> AsyncIterator[BrowserContext]:
    language = request.param
    context = await browser.new_context(
        base_url=site.url, viewport={"width": 1280, "height": 900}, locale=language, bypass_csp=True
    )
    # The public pages follow Accept-Language; a pledger's pages speak the pledge's language (English here)
    # unless this browser chose another with the language switch, as a reader of Arabic would.
    await context.add_cookies([{"name": "pf_lang", "value": language, "url": site.url}])
    yield context
    await context.close()


async def violations(page: Page) -> list[dict[str, object]]:
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, object]] = await page.evaluate(
        """async () => (await axe.run(document)).violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}))"""
    )
    return found


async def submitted_with_errors(page: Page) -> None:
    await page.goto("/submit")
    await page.locator("#field-title").fill("Sol")
    await page.locator(".actions button[type=submit]").click()
    await expect(page.locator(".error-summary")).to_be_visible()


@pytest.mark.parametrize("checking", ["en", "ar"], indirect=True)
async def test_no_page_has_an_accessibility_violation(
    checking: BrowserContext, site: Site, pages: dict[str, str]
) -> None:
    page = await checking.new_page()
    found: dict[str, list[dict[str, object]]] = {}
    lang = "ar" if "ar" in (await page.evaluate("navigator.language")) else "en"
    for name, path in pages.items():
        if name == "staff-queue":  # the staff pages need a session
            await page.goto("/staff/login")
            await page.locator("#field-key").fill(site.staff[Role.vetter])
            await page.locator("form button[type=submit]").click()
        await page.goto(path)
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        await expect(page.locator("html")).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
        if problems := await violations(page):
            found[name] = problems
        if name in {"submission-form", "report-form"} and lang == "ar":
            await snap(page, f"{name}-ar")
    await submitted_with_errors(page)
    if problems := await violations(page):
        found["submission-errors"] = problems
    assert found == {}, json.dumps(found, indent=2, ensure_ascii=False)


async def test_the_registry_on_a_phone_folds_its_filters_away(browser: Browser, site: Site) -> None:
    await published(site, title="Drinking water for 12 towns in Bolivia")
    phone = await browser.new_context(base_url=site.url, viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = await phone.new_page()
        await page.goto("/registry")
        toggle = page.locator("details.filters-toggle")
        await expect(toggle.locator("summary")).to_be_visible()
        await expect(page.locator("#field-q")).to_be_hidden()  # the results come first on a small screen
        await snap(page, "registry-phone")
        await toggle.locator("summary").click()
        await expect(page.locator("#field-q")).to_be_visible()
    finally:
        await phone.close()
    desktop = await browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    try:
        page = await desktop.new_page()
        await page.goto("/registry")
        await expect(page.locator("details.filters-toggle summary")).to_be_hidden()
        await expect(page.locator("#field-q")).to_be_visible()  # no click needed where there is room
        await snap(page, "registry-desktop")
        await page.goto("/stats")
        await expect(page.locator("figure.chart img").first).to_be_visible()
        await snap(page, "stats")
    finally:
        await desktop.close()


async def test_a_pledges_public_page_prints_as_a_clean_record_with_its_reports(browser: Browser, site: Site) -> None:
    pledge = await published(site, title="School meals for 9,000 pupils in Malawi")
    await registry_row(site, pledge.id, status="report_due")
    await api_report(site, pledge, narrative="We served 1.6 million meals in 41 schools this year.")
    await registry_row(site, pledge.id, status="published")
    printing = await browser.new_context(base_url=site.url)
    try:
        page = await printing.new_page()
        await page.goto(f"/registry/{pledge.id}")
        await page.emulate_media(media="print")
        for gone in (".site-header", ".site-footer", ".languages", ".breadcrumbs"):
            await expect(page.locator(gone)).to_be_hidden()
        await expect(page.locator(".print-only")).to_contain_text(f"Pledge {pledge.id} in the public registry")
        await expect(page.get_by_text("We served 1.6 million meals in 41 schools this year.")).to_be_visible()
        await expect(page.locator("h1")).to_have_text("School meals for 9,000 pupils in Malawi")
        await page.emulate_media(media="screen")
        await expect(page.locator(".print-only")).to_be_hidden()
        await expect(page.locator(".site-header")).to_be_visible()
    finally:
        await printing.close()
