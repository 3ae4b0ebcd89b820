"""The pledger's pages: the submission form, the manage page with its actions, the emailed report form."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import httpx

from api.app import create_app
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue
from tests.conftest import free_port
from tests.factories import submission_data
from tests.pages.conftest import Site, api_submit, csrf_of, published, registry_row, report_link


def field_error(page: str, name: str) -> str | None:
    """The message shown next to the input ``name``, if any."""
    input_id = "field-" + name.replace(".", "-")
    found = re.search(rf'<p class="field-error" id="{re.escape(input_id)}-error">(.*?)</p>', page, re.DOTALL)
    return html_lib.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else None


def form_of(data: dict[str, Any]) -> dict[str, Any]:
    """A factory submission as the submission form posts it."""
    return {
        "title": data["title"],
        "description": data["description"],
        "pledge_type": data["pledge_type"],
        "organization.name": data["organization"]["name"],
        "organization.type": data["organization"]["type"],
        "organization.country": data["organization"]["country"].lower(),
        "focal_point.name": data["focal_point"]["name"],
        "focal_point.email": data["focal_point"]["email"],
        "partners.0.name": "Ministry of ICT",
        "partners.0.type": "government",
        "sdgs": ["4", "9"],
        "sdg_targets": "4.4, 9.c",
        "geographic_scope": "national",
        "countries": "ken",
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
        "deliverables.0.title": "200 schools connected",
        "deliverables.0.due_date": "2026-12-31",
        "deliverables.2.title": "500 schools connected",
        "deliverables.2.due_date": "2027-12-31",
        "resources.financial_usd": "2,500,000",
        "resources.funding_sources": ["foundation"],
        "implementation": ["training"],
        "website": "https://connect-africa.example/schools",
    }


async def _form_page(http: httpx.AsyncClient, url: str) -> tuple[str, str]:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    return response.text, csrf_of(response.text)


async def test_every_input_of_the_submission_form_has_a_label(site: Site) -> None:
    async with site.client() as http:
        page, _ = await _form_page(http, "/submit")
    ids = re.findall(r'<(?:input|select|textarea)\b[^>]*\sid="([^"]+)"', page)
    assert len(ids) > 60
    for input_id in ids:
        assert f'<label for="{input_id}">' in page, input_id
    hidden = re.findall(r'<input type="hidden" name="([^"]+)"', page)
    assert sorted(hidden) == ["csrf_token", "deliverable_rows", "idempotency_key", "partner_rows"]


async def test_invalid_submission_is_shown_again_with_each_error_by_its_input(site: Site) -> None:
    form = form_of(submission_data()) | {
        "title": "Tiny",
        "focal_point.email": "not-an-address",
        "countries": "KEN, K3N",
        "deliverables.2.due_date": "",
        "website": "http://plain.example",
    }
    async with site.client() as http:
        _, token = await _form_page(http, "/submit")
        response = await http.post("/submit", data=form | {"csrf_token": token})
    assert response.status_code == 422
    page = response.text
    assert "at least 5 characters" in (field_error(page, "title") or "")
    assert "Enter an email address like name@example.org" in (field_error(page, "focal_point.email") or "")
    assert "“K3N” is not a three-letter country code" in (field_error(page, "countries") or "")
    # The third form row (the second deliverable) is the one without a date.
    assert field_error(page, "deliverables.2.due_date") == "Error: This is required."
    assert field_error(page, "deliverables.0.due_date") is None
    assert "https://" in (field_error(page, "website") or "")
    # What the person typed is kept.
    assert 'value="Tiny"' in page
    assert 'value="not-an-address"' in page
    assert 'value="500 schools connected"' in page
    assert re.search(r'name="sdgs" value="9" checked', page)
    assert '<option value="foundation" selected>' in page
    # And the summary at the top links to the inputs.
    assert '<a href="#field-deliverables-2-due_date">Deliverable 3 – Due date: This is required.</a>' in page


async def test_cross_field_rules_land_by_the_field_they_name(site: Site) -> None:
    form = form_of(submission_data()) | {"end_date": "2025-06-30", "sdg_targets": "4.4, 13.1"}
    async with site.client() as http:
        _, token = await _form_page(http, "/submit")
        response = await http.post("/submit", data=form | {"csrf_token": token})
    assert response.status_code == 422
    assert "belongs to SDG 13" in (field_error(response.text, "sdg_targets") or "")


async def test_add_a_deliverable_row_keeps_what_was_typed(site: Site) -> None:
    async with site.client() as http:
        _, token = await _form_page(http, "/submit")
        response = await http.post(
            "/submit",
            data={"csrf_token": token, "title": "Half-written pledge", "deliverable_rows": "3", "add_deliverable": "1"},
        )
    assert response.status_code == 200
    assert 'name="deliverables.3.title"' in response.text
    assert 'value="Half-written pledge"' in response.text
    assert 'class="field-error"' not in response.text  # not validated yet


async def test_submission_shows_the_id_and_a_working_manage_link(site: Site) -> None:
    async with site.client() as http:
        page, token = await _form_page(http, "/submit")
        key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
        assert key
        form = form_of(submission_data()) | {"csrf_token": token, "idempotency_key": key.group(1)}
        first = await http.post("/submit", data=form)
        again = await http.post("/submit", data=form)  # a double click, or the browser resending
    assert first.status_code == 200, first.text
    pledge_id = re.search(r'<strong class="pledge-id">(PF-\w+)</strong>', first.text)
    assert pledge_id
    assert f'<strong class="pledge-id">{pledge_id.group(1)}</strong>' in again.text
    manage = re.search(r'<p class="manage-link"><a href="([^"]+)">', first.text)
    assert manage
    manage_url = html_lib.unescape(manage.group(1))
    assert manage_url.startswith(f"{site.url}/pledges/{pledge_id.group(1)}?token=")
    await registry_row(site, pledge_id.group(1), status="in_review")
    async with site.client() as http:
        own = await http.get(manage_url)
    assert own.status_code == 200
    assert "In review" in own.text and "Connecting 500 rural schools in Kenya by 2027" in own.text
    assert own.headers["Referrer-Policy"] == "no-referrer"  # the token in the URL stays here


async def test_manage_page_refuses_bad_and_foreign_tokens(site: Site) -> None:
    mine, other = await api_submit(site), await api_submit(site)
    report_token = issue(site.settings.signing_key(), TokenClaims(mine.id, Purpose.report, 1, cycle=1))
    async with site.client() as http:
        forged = await http.get(f"/pledges/{mine.id}", params={"token": "forged"})
        missing = await http.get(f"/pledges/{mine.id}")
        foreign = await http.get(f"/pledges/{mine.id}", params={"token": other.manage_token})
        report_only = await http.get(f"/pledges/{mine.id}", params={"token": report_token})
    assert forged.status_code == missing.status_code == 401
    assert foreign.status_code == report_only.status_code == 403
    assert "This token belongs to another pledge" in html_lib.unescape(foreign.text)
    assert forged.headers["content-type"].startswith("text/html")


async def test_extension_request_errors_by_the_reason_then_is_sent(site: Site) -> None:
    pledge = await published(site)
    await registry_row(site, pledge.id, status="report_due")
    manage_url = f"/pledges/{pledge.id}?token={pledge.manage_token}"
    async with site.client() as http:
        _, token = await _form_page(http, manage_url)
        action = f"/pledges/{pledge.id}/extension-request"
        short = await http.post(action, data={"csrf_token": token, "token": pledge.manage_token, "reason": "busy"})
        reason = "Our data team is in the field until May."
        sent = await http.post(action, data={"csrf_token": token, "token": pledge.manage_token, "reason": reason})
        assert sent.status_code == 303
        after = await http.get(sent.headers["location"])
    assert short.status_code == 422
    assert "at least 10 characters" in (field_error(short.text, "reason") or "")
    assert "Your request for an extension of “Connecting 500 rural schools in Kenya by 2027” was sent" in after.text
    assert "Extension requested: Our data team is in the field until May." in after.text


async def test_withdrawal_asks_for_confirmation_then_closes_the_pledge(site: Site) -> None:
    pledge = await published(site)
    async with site.client() as http:
        confirm, token = await _form_page(http, f"/pledges/{pledge.id}/withdraw?token={pledge.manage_token}")
        assert "Yes, withdraw the pledge" in confirm
        row = await registry_row(site, pledge.id)
        assert row.status != "closed"  # the confirmation page did nothing
        too_long = await http.post(
            f"/pledges/{pledge.id}/withdraw",
            data={"csrf_token": token, "token": pledge.manage_token, "reason": "x" * 2001},
        )
        assert too_long.status_code == 422
        assert "at most 2000 characters" in (field_error(too_long.text, "reason") or "")
        done = await http.post(
            f"/pledges/{pledge.id}/withdraw",
            data={"csrf_token": token, "token": pledge.manage_token, "reason": "The programme lost its funding."},
        )
        assert done.status_code == 303
        after = await http.get(done.headers["location"])
        again = await http.post(
            f"/pledges/{pledge.id}/withdraw", data={"csrf_token": token, "token": pledge.manage_token}
        )
    assert "Your pledge “Connecting 500 rural schools in Kenya by 2027” has been withdrawn" in after.text
    assert "Closed" in after.text
    await registry_row(site, pledge.id, status="closed", closure_reason="withdrawn")
    assert again.status_code == 409
    assert "closed" in again.text
    async with site.client() as http:
        public = (await http.get(f"/registry/{pledge.id}")).text
    assert "The programme lost its funding." in public


async def test_a_report_the_workflow_refuses_is_shown_with_its_reason(site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as http:
        _, token = await _form_page(http, f"/pledges/{pledge.id}/report?token={pledge.manage_token}")
        refused = await http.post(
            f"/pledges/{pledge.id}/report",
            data={
                "csrf_token": token,
                "token": pledge.manage_token,
                "progress": "in_progress",
                "narrative": "Work started early, before publication.",
            },
        )
    assert refused.status_code == 409
    assert "cannot report on a pledge that is in_review" in refused.text
    assert "Work started early, before publication." in refused.text  # kept, nothing lost


async def test_pages_answer_503_while_temporal_is_unreachable(site: Site) -> None:
    pledge = await api_submit(site)
    cut_off = site.settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    transport = httpx.ASGITransport(app=create_app(cut_off))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get(f"/pledges/{pledge.id}", params={"token": pledge.manage_token})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Temporal is unreachable" in response.text
    assert response.headers["content-type"].startswith("text/html")


async def test_report_link_renders_without_acting_and_the_post_files_the_report(site: Site) -> None:
    pledge = await published(site)
    link = await report_link(site, pledge.id)
    async with site.client() as http:
        first_look = await http.get(link)  # what a mail scanner does
        second_look = await http.get(link)
        assert first_look.status_code == second_look.status_code == 200
        assert "20 to 10,000 characters" in first_look.text  # the limits the report is checked against
        row = await registry_row(site, pledge.id, status="report_due")
        assert row.last_report_at is None
        token = csrf_of(second_look.text)
        report_token = link.split("token=", 1)[1]
        base = {"csrf_token": token, "token": report_token}
        invalid = await http.post(
            f"/pledges/{pledge.id}/report",
            data=base | {"narrative": "Too short.", "deliverables.0.percent_complete": "140"},
        )
        filed = await http.post(
            f"/pledges/{pledge.id}/report",
            data=base
            | {
                "progress": "on_track",
                "narrative": "Connected 230 schools and trained 1,100 teachers this year.",
                "deliverables.0.percent_complete": "100",
                "beneficiaries_reached": "86,000",
                "links": "https://connect-africa.example/report-2026",
            },
        )
    assert invalid.status_code == 422
    assert field_error(invalid.text, "progress") == "Error: This is required."
    assert "at least 20 characters" in (field_error(invalid.text, "narrative") or "")
    assert "Use 100 or less." in (field_error(invalid.text, "deliverables.0.percent_complete") or "")
    assert "Too short." in invalid.text  # kept for correction
    assert filed.status_code == 200, filed.text
    assert "Thank you: your report is received" in filed.text
    assert re.search(r"badge--green.*?</span> Published</span>", filed.text)
    await registry_row(site, pledge.id, status="published")
    async with site.client() as http:
        public = (await http.get(f"/registry/{pledge.id}")).text
    assert "Connected 230 schools and trained 1,100 teachers this year." in public
    assert "86,000" in public
