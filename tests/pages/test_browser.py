"""The pages in headless Chromium, as people use them: keyboard and mouse, no JavaScript of ours.

With ``PLEDGEFLOW_PAGE_SCREENSHOTS=<dir>`` (docs/make_page_screenshots.py sets it) the same walks also save
a picture of each page there.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from pledgeflow.auth.staff_keys import Role
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue, recipient_digest
from tests.pages.conftest import (
    Site,
    api_approve,
    api_submit,
    published,
    registry_row,
    report_link,
    screenshot_dir,
    snap,
)

pytestmark = pytest.mark.browser

HOSTILE_TITLE = "<img src=x onerror=alert(1)>"


async def sign_in(page: Page, key: str) -> None:
    await page.goto("/staff/login")
    await page.get_by_label("Staff key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Review queue")).to_be_visible()


async def fill_submission(page: Page, title: str) -> None:
    await page.goto("/submit")
    await page.get_by_label("Title", exact=True).fill(title)
    await page.get_by_label("Description").fill(
        "We will install solar mini-grids in 40 rural health clinics in Uganda and train local technicians "
        "to maintain them, so vaccines stay cold and night deliveries have light."
    )
    await page.get_by_label("Programmatic").check()
    await page.locator("#field-organization-name").fill("Sunbridge Energy Trust")
    await page.locator("#field-organization-type").select_option("ngo")
    await page.get_by_label("Country", exact=True).select_option("UGA")
    await page.locator("#field-focal_point-name").fill("Grace Nakato")
    await page.locator("#field-focal_point-email").fill("grace@sunbridge.example")
    await page.get_by_label("3. Good health and well-being").check()
    await page.get_by_label("7. Affordable and clean energy").check()
    await page.locator("#field-geographic_scope").select_option("national")
    await page.get_by_label("Countries").fill("UGA")
    await page.get_by_label("Start date").fill("2026-03-01")
    await page.get_by_label("End date", exact=False).first.fill("2028-02-28")
    await page.locator("#field-deliverables-0-title").fill("20 clinics powered")
    await page.locator("#field-deliverables-0-due_date").fill("2026-12-31")
    await page.locator("#field-deliverables-1-title").fill("40 clinics powered, 80 technicians trained")
    await page.locator("#field-deliverables-1-due_date").fill("2027-12-31")
    await page.get_by_label("Financial commitment in USD").fill("1,200,000")
    await page.get_by_label("Foundation").first.check()
    await page.get_by_label("Technology transfer").check()


async def neighbours(site: Site) -> None:
    """A few more published pledges, of other organisations and goals, one of them withdrawn."""
    examples = [
        {
            "title": "Free public Wi-Fi in 120 Andean municipalities",
            "organization": {
                "name": "Ministerio de Transportes y Comunicaciones",
                "type": "government",
                "country": "PER",
            },
            "countries": ["PER"],
            "sdgs": [9, 11],
            "sdg_targets": ["9.c"],
        },
        {
            "title": "Digital skills for 50,000 women entrepreneurs",
            "organization": {"name": "Pacific Telecom Alliance", "type": "private_sector", "country": "FJI"},
            "countries": ["FJI", "WSM", "TON"],
            "geographic_scope": "subregional",
            "sdgs": [5, 8],
            "sdg_targets": [],
        },
        {
            "title": "Open satellite data for drought early warning",
            "organization": {"name": "Sahel Climate Observatory", "type": "academia", "country": "SEN"},
            "countries": ["SEN", "MLI", "NER"],
            "geographic_scope": "regional",
            "sdgs": [13],
            "sdg_targets": [],
        },
    ]
    for example in examples:
        await published(site, **example)
    withdrawn = await published(site, title="Refurbished laptops for 300 secondary schools", sdgs=[4], sdg_targets=[])
    async with site.client() as http:
        response = await http.post(
            f"/api/v1/pledges/{withdrawn.id}/withdrawal",
            json={"reason": "The donor programme ended."},
            headers={"Authorization": f"Bearer {withdrawn.manage_token}"},
        )
    assert response.status_code == 200, response.text
    await registry_row(site, withdrawn.id, status="closed")


async def test_pledger_answers_the_emailed_report_link_and_the_pledge_is_published(page: Page, site: Site) -> None:
    pledge = await published(site, title="Connecting 500 rural schools in Kenya by 2027")
    link = await report_link(site, pledge.id)  # from the report request in the captured mail

    await page.goto(link)
    await expect(page.get_by_role("heading", name="Connecting 500 rural schools in Kenya by 2027")).to_be_visible()
    await page.get_by_label("On track").check()
    await page.get_by_label("What happened this year?").fill(
        "We connected 230 schools and trained 1,100 teachers in digital skills; the ministry co-funds bandwidth."
    )
    await page.locator("#field-deliverables-0-percent_complete").fill("100")
    await page.locator("#field-deliverables-1-percent_complete").fill("45")
    await page.get_by_label("People reached").fill("86000")
    await page.locator("h1").click()  # no focus ring in the picture
    await snap(page, "report-form")
    await page.get_by_role("button", name="Send the report").click()
    await expect(page.get_by_role("heading", name="Thank you: your report is received")).to_be_visible()

    await registry_row(site, pledge.id, status="published")
    await page.get_by_role("link", name="the pledge's public page").click()
    await expect(page.locator(".pledge-head .badge")).to_have_text("● Published")
    await expect(page.get_by_text("We connected 230 schools and trained 1,100 teachers")).to_be_visible()
    await snap(page, "public-pledge")
    if screenshot_dir() is not None:
        await neighbours(site)  # a registry of one pledge would make a poor picture
    await page.goto("/registry")
    # The session's registry holds other tests' pledges of the same title: look for this one's own link.
    listed = page.locator(f'a[href="/registry/{pledge.id}"]')
    await expect(listed).to_have_text("Connecting 500 rural schools in Kenya by 2027")
    await snap(page, "public-registry")


async def test_vetter_signs_in_and_approves_a_pledge_from_the_queue(page: Page, site: Site) -> None:
    title = "Solar power for 40 rural clinics in Uganda"
    await fill_submission(page, title)
    await snap(page, "submission-form")
    await page.get_by_role("button", name="Submit the pledge").last.click()
    await expect(page.get_by_role("heading", name="Thank you: your pledge is submitted")).to_be_visible()
    pledge_id = await page.locator(".pledge-id").inner_text()
    await registry_row(site, pledge_id, status="in_review")
    await snap(page, "submitted")
    await page.locator(".manage-link a").click()  # the pledger's own page, behind the manage link
    await expect(page.locator(".pledge-head .badge")).to_have_text("○ In review")
    await snap(page, "manage")

    await sign_in(page, site.staff[Role.vetter])
    await snap(page, "staff-queue")
    await page.get_by_role("link", name=title).first.click()
    await expect(page.get_by_role("heading", name=title)).to_be_visible()
    await expect(page.get_by_text("grace@sunbridge.example")).to_be_visible()  # staff see the contacts
    await page.get_by_label("Approve and publish").check()
    await snap(page, "decision")
    await page.get_by_role("button", name="Record the decision").click()
    await expect(page.get_by_role("status")).to_have_text(f"“{title}” ({pledge_id}) approved.")

    await registry_row(site, pledge_id, status="published")
    await page.goto(f"/registry/{pledge_id}")
    await expect(page.locator(".pledge-head .badge")).to_contain_text("Published")


async def test_a_hostile_title_is_text_on_every_page(page: Page, site: Site) -> None:
    pledge = await api_submit(site, title=HOSTILE_TITLE)
    await registry_row(site, pledge.id, status="in_review")

    async def shows_title_as_text(heading: bool) -> None:
        if heading:
            await expect(page.locator("h1")).to_have_text(HOSTILE_TITLE)
        else:
            await expect(page.get_by_role("link", name=HOSTILE_TITLE).first).to_be_visible()
        assert await page.locator("img").count() == 0

    await sign_in(page, site.staff[Role.vetter])
    await shows_title_as_text(heading=False)  # the review queue
    await page.goto(f"/staff/pledges/{pledge.id}")
    await shows_title_as_text(heading=True)  # the decision page
    await page.goto(f"/pledges/{pledge.id}?token={pledge.manage_token}")
    await shows_title_as_text(heading=True)  # the pledger's page

    await api_approve(site, pledge)
    await registry_row(site, pledge.id, status="published")
    await page.goto("/registry")
    await shows_title_as_text(heading=False)  # the registry list
    await page.goto(f"/registry/{pledge.id}")
    await shows_title_as_text(heading=True)  # the public pledge page
    await page.goto(await report_link(site, pledge.id))
    await shows_title_as_text(heading=True)  # the report form
    # An injected <img src=x> fails to load before the page's load event, so its onerror handler (and the
    # alert the page fixture would catch: an alert holds the page until dismissed) has run by then.
    await page.wait_for_load_state("load")


async def test_a_form_posted_without_its_csrf_token_is_refused(browser: Browser, site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    # Scripts are ours to run here only to tamper with the form, as a forger would.
    tampering = await browser.new_context(base_url=site.url, bypass_csp=True)
    try:
        tab = await tampering.new_page()
        await sign_in(tab, site.staff[Role.vetter])
        await tab.goto(f"/staff/pledges/{pledge.id}")
        await tab.get_by_label("Approve and publish").check()
        await tab.evaluate("document.querySelector('form[action$=\"/decision\"] input[name=csrf_token]').remove()")
        await tab.get_by_role("button", name="Record the decision").click()
        await expect(tab.get_by_role("heading", name="Forbidden")).to_be_visible()
        await expect(tab.get_by_text("did not carry this site's security token")).to_be_visible()
    finally:
        await tampering.close()
    row = await registry_row(site, pledge.id)
    assert row.status == "in_review"


async def test_the_unsubscribe_link_asks_and_its_button_stops_reminders_to_that_contact(page: Page, site: Site) -> None:
    """The footer link of a reminder, opened in a browser: a question first; the button's POST acts, with no
    CSRF token (RFC 8058's one-click POST carries none) and without a redirect."""
    pledge = await published(site)
    secret = site.settings.signing_key()
    recipient = recipient_digest(secret, "peter@connect-africa.example")
    token = issue(secret, TokenClaims(pledge.id, Purpose.unsubscribe, 1, recipient=recipient))
    await page.goto(f"/pledges/{pledge.id}/unsubscribe?token={token}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Stop reminders about")
    await expect(page.get_by_text("p•••@connect-africa.example")).to_be_visible()
    await snap(page, "unsubscribe-confirm")
    await page.get_by_role("button", name="Stop reminders to this address").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Reminders stopped")
    await expect(page.get_by_text("Reminders to the backup contact of this pledge are stopped")).to_be_visible()
    await snap(page, "unsubscribe-done")
    async with site.client() as http:
        state = (
            await http.get(f"/api/v1/pledges/{pledge.id}", headers={"Authorization": f"Bearer {pledge.manage_token}"})
        ).json()
    assert state["reminders_stopped"] == ["peter@connect-africa.example"]
