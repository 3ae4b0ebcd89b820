"""A pledger's whole path in the browser (issue 11): a submission with mistakes, all shown at once, changes
requested by staff, the revision on the page the email links to, approval, the public page; and the same in
French, where every email to the pledger is French too.

Staff work in a browser of their own (another person, another language).
"""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest
from playwright.async_api import Browser, Page, expect

from pledgeflow.auth.staff_keys import Role
from tests.pages.conftest import Site, emailed, link_in, registry_row, snap, text_of

pytestmark = pytest.mark.browser

DESCRIPTION = (
    "We will install solar mini-grids in 40 rural health clinics in Uganda and train local technicians "
    "to maintain them, so vaccines stay cold and night deliveries have light."
)
STAFF_NOTE = "Please add a deliverable for the technicians' training, with its date."


async def fill_submission(page: Page, title: str, language: str) -> None:
    """The submission form by its inputs' ids, so the walk reads the same in any language."""
    await page.locator("#field-title").fill(title)
    await page.locator("#field-description").fill(DESCRIPTION)
    await page.locator("#field-pledge_type-programmatic").check()
    await page.locator("#field-language").select_option(language)
    await page.locator("#field-organization-name").fill("Sunbridge Energy Trust")
    await page.locator("#field-organization-type").select_option("ngo")
    await page.locator("#field-organization-country").select_option("UGA")
    await page.locator("#field-focal_point-name").fill("Grace Nakato")
    await page.locator("#field-focal_point-email").fill("grace@sunbridge.example")
    await page.locator("#field-sdgs-3").check()
    await page.locator("#field-sdgs-7").check()
    await page.locator("#field-geographic_scope").select_option("national")
    await page.locator("#field-countries").fill("UGA")
    await page.locator("#field-start_date").fill("2026-03-01")
    await page.locator("#field-end_date").fill("2028-02-28")
    await page.locator("#field-deliverables-0-title").fill("20 clinics powered")
    await page.locator("#field-deliverables-0-due_date").fill("2026-12-31")
    await page.locator("#field-resources-financial_usd").fill("1,200,000")


async def staff_signs_in(browser: Browser, site: Site) -> Page:
    staff = await browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900}, locale="en-GB")
    tab = await staff.new_page()
    await tab.goto("/staff/login")
    await tab.locator("#field-key").fill(site.staff[Role.vetter])
    await tab.get_by_role("button", name="Sign in").click()
    await expect(tab.get_by_role("heading", name="Review queue")).to_be_visible()
    return tab


@pytest.mark.parametrize("language", ["en", "fr"])
async def test_submit_with_mistakes_revise_when_asked_and_see_the_pledge_published(
    page: Page, browser: Browser, site: Site, language: str
) -> None:
    title = f"Solar power for 40 rural clinics in Uganda ({language})"
    await page.goto("/submit")
    if language != "en":
        await page.locator(f'.languages a[hreflang="{language}"]').click()
        await expect(page.locator("html")).to_have_attribute("lang", language)

    # Three mistakes: a title too short, an address that is none, a deliverable due before the pledge starts.
    await fill_submission(page, "Sol", language)
    await page.locator("#field-focal_point-email").fill("grace at sunbridge")
    await page.locator("#field-deliverables-0-due_date").fill("2025-12-31")
    await page.locator(".actions button[type=submit]").click()
    summary = page.locator(".error-summary")
    await expect(summary).to_be_visible()
    await expect(summary.locator("li")).to_have_count(3)
    await expect(summary).to_be_focused()  # the browser put the focus on the summary: no script
    for field in ("title", "focal_point-email", "deliverables-0-due_date"):
        await expect(summary.locator(f'a[href="#field-{field}"]')).to_be_visible()
        await expect(page.locator(f"#field-{field}")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#field-description")).to_have_value(DESCRIPTION)  # nothing typed is lost
    if language == "en":
        await expect(summary).to_contain_text("Title: Use at least 5 characters.")
        await expect(summary).to_contain_text("Focal point – Email: Enter an email address like name@example.org.")
        await expect(summary).to_contain_text(
            "Deliverable 1 – Due date: The due date is before the pledge starts (2026-03-01)."
        )
        await snap(page, "submission-errors")
    else:
        await expect(summary).to_contain_text("Titre : Utilisez au moins 5 caractères.")
    await page.locator("#field-title").fill(title)
    await page.locator("#field-focal_point-email").fill("grace@sunbridge.example")
    await page.locator("#field-deliverables-0-due_date").fill("2026-12-31")
    await page.locator(".actions button[type=submit]").click()
    pledge_id = await page.locator(".pledge-id").inner_text()
    await registry_row(site, pledge_id, status="in_review")
    received = await emailed(site, pledge_id, "submission_received")

    # Staff ask for changes.
    staff = await staff_signs_in(browser, site)
    await staff.locator(f'a[href="/staff/pledges/{pledge_id}"]').click()
    await staff.get_by_label("Request changes").check()
    await staff.get_by_label("Note to the pledger").fill(STAFF_NOTE)
    await staff.get_by_role("button", name="Record the decision").click()
    await expect(staff.get_by_role("status")).to_have_text(f"“{title}” ({pledge_id}) sent back for changes.")

    # The pledger follows the email's link and revises on the page, which starts from what they sent.
    asked = await emailed(site, pledge_id, "changes_requested")
    await page.goto(link_in(asked, rf"/pledges/{pledge_id}/revise\?token="))
    await expect(page.locator("#field-title")).to_have_value(title)
    await expect(page.locator("#asked-title + p")).to_have_text(STAFF_NOTE)
    if language == "en":
        await snap(page, "revise")
    await page.locator("#field-deliverables-1-title").fill("80 technicians trained")
    await page.locator("#field-deliverables-1-due_date").fill("2027-06-30")
    await page.locator(".actions button[type=submit]").click()
    await expect(page.get_by_role("status")).to_contain_text(title)
    await registry_row(site, pledge_id, status="in_review", submission_version=2)

    # Staff see what the revision changed, and approve.
    await staff.goto(f"/staff/pledges/{pledge_id}")
    changes = staff.locator(".table--changes")
    await expect(changes).to_contain_text("80 technicians trained")
    await expect(staff.get_by_role("link", name="Open the workflow in the Temporal UI")).to_have_attribute(
        "href", re.compile(rf"/namespaces/default/workflows/pledge-{pledge_id}$")
    )
    if language == "en":
        await snap(staff, "decision-revision")
    await staff.get_by_label("Approve and publish").check()
    await staff.get_by_role("button", name="Record the decision").click()
    await expect(staff.get_by_role("status")).to_have_text(f"“{title}” ({pledge_id}) approved.")
    await staff.context.close()

    await registry_row(site, pledge_id, status="published")
    await page.goto(f"/registry/{pledge_id}")
    await expect(page.locator("h1")).to_have_text(title)
    await expect(page.locator(".pledge-head .badge")).to_contain_text("Publié" if language == "fr" else "Published")
    await expect(page.locator("table").first).to_contain_text("80 technicians trained")

    published = await emailed(site, pledge_id, "published")
    subjects = [str(message["Subject"]) for message in (received, asked, published)]
    if language == "fr":
        assert subjects == [
            f"Nous avons reçu votre engagement « {title} »",
            f"Modifications demandées pour votre engagement « {title} » d’ici le {french_day(asked)}",
            f"Votre engagement « {title} » est publié",
        ]
        assert "Bonjour Grace Nakato," in text_of(published)
        await snap(page, "public-pledge-fr")
    else:
        assert subjects[0] == f"We received your pledge “{title}”"
        assert subjects[2] == f"Your pledge “{title}” is published"


def french_day(message: EmailMessage) -> str:
    """The deadline as the French subject writes it, read back from the message's own text."""
    found = re.search(r"À réviser d’ici le: (.+)", text_of(message))
    assert found, "the French changes-requested mail gives its deadline"
    return found.group(1).strip()
