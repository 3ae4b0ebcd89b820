"""The revise page (issue 11): the pledger's current submission prefilled with the staff note, sent as the
next version through the workflow's revise update; a version revised meanwhile shows what changed and keeps
what the pledger typed. And the pages speak the pledge's language, or the one a browser chose."""

from __future__ import annotations

import html as html_lib
import re

from pledgeflow.auth.staff_keys import Role
from tests.factories import submission_data
from tests.pages.conftest import Made, Site, api_request_changes, api_submit, csrf_of, registry_row
from tests.pages.test_pledger_pages import field_error, form_of

NOTE = "Please name the local operators you will work with."


async def changes_requested(site: Site, **overrides: object) -> Made:
    pledge = await api_submit(site, **overrides)
    await registry_row(site, pledge.id, status="in_review")
    await api_request_changes(site, pledge, NOTE)
    return pledge


async def test_the_revise_page_starts_from_the_current_version_and_sends_the_next(site: Site) -> None:
    pledge = await changes_requested(site)
    async with site.client() as http:
        page = await http.get(f"/pledges/{pledge.id}/revise", params={"token": pledge.manage_token})
        assert page.status_code == 200
        assert NOTE in page.text
        for shown in ('value="Connecting 500 rural schools in Kenya by 2027"', 'value="200 schools connected"',
                      'id="field-pledge_type-programmatic" name="pledge_type" value="programmatic" checked',
                      '<option value="KEN" selected>', 'name="version" value="1"'):  # fmt: skip
            assert shown in page.text, shown
        manage = await http.get(f"/pledges/{pledge.id}", params={"token": pledge.manage_token})
        assert f'href="/pledges/{pledge.id}/revise?token=' in manage.text
        form = form_of(submission_data()) | {"title": "Tiny", "website": "http://plain.example"}
        base = {"csrf_token": csrf_of(page.text), "token": pledge.manage_token, "version": "1"}
        invalid = await http.post(f"/pledges/{pledge.id}/revise", data=base | form)
        revised = await http.post(
            f"/pledges/{pledge.id}/revise",
            data=base | form | {"title": "Connecting 500 rural schools with Safaricom and Airtel", "website": ""},
        )
        after = await http.get(revised.headers["location"])
    assert invalid.status_code == 422 and "at least 5 characters" in (field_error(invalid.text, "title") or "")
    assert "https://" in (field_error(invalid.text, "website") or "")
    assert revised.status_code == 303
    assert "Your revision of “Connecting 500 rural schools with Safaricom and Airtel” is sent" in after.text
    row = await registry_row(site, pledge.id, status="in_review", submission_version=2)
    assert row.title == "Connecting 500 rural schools with Safaricom and Airtel"


async def test_a_version_revised_meanwhile_shows_what_changed_and_keeps_what_was_typed(site: Site) -> None:
    pledge = await changes_requested(site)
    async with site.client() as http:
        opened = await http.get(f"/pledges/{pledge.id}/revise", params={"token": pledge.manage_token})
        # A colleague revises from the API meanwhile, and the team asks for changes again.
        colleague = await http.put(
            f"/api/v1/pledges/{pledge.id}/submission",
            json=submission_data(title="Connecting 500 rural schools, with Safaricom"),
            headers={"Authorization": f"Bearer {pledge.manage_token}", "If-Match": '"1"'},
        )
        assert colleague.status_code == 200, colleague.text
        await registry_row(site, pledge.id, status="in_review", submission_version=2)
        await api_request_changes(site, pledge, "Also give the number of teachers.")
        mine = form_of(submission_data()) | {"description": "x" * 60 + " our own edit"}
        stale = await http.post(
            f"/pledges/{pledge.id}/revise",
            data=mine | {"csrf_token": csrf_of(opened.text), "token": pledge.manage_token, "version": "1"},
        )
        again = await http.post(
            f"/pledges/{pledge.id}/revise",
            data=mine | {"csrf_token": csrf_of(opened.text), "token": pledge.manage_token, "version": "2"},
        )
    assert stale.status_code == 412
    page = html_lib.unescape(stale.text)
    assert "revised by someone else while you were editing: version 2 is now current" in page
    assert "What the other revision changed" in page and "Changes from version 1 to version 2" in page
    assert re.search(r"<ins>[^<]*Safaricom</ins>", page)
    assert "our own edit" in page and 'name="version" value="2"' in page  # kept, and ready to send on top
    assert again.status_code == 303
    await registry_row(site, pledge.id, status="in_review", submission_version=3)


async def test_a_pledge_not_asked_for_changes_cannot_be_revised(site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as http:
        page = await http.get(f"/pledges/{pledge.id}/revise", params={"token": pledge.manage_token})
        token = csrf_of((await http.get("/submit")).text)  # the page offers no form to post
        refused = await http.post(
            f"/pledges/{pledge.id}/revise",
            data=form_of(submission_data()) | {"csrf_token": token, "token": pledge.manage_token, "version": "1"},
        )
    assert page.status_code == 200 and "cannot be revised now: it is in review" in page.text
    assert 'action="/pledges/' not in page.text.split("</header>", 1)[1].split("<footer", 1)[0]
    assert refused.status_code == 409
    assert "Connecting 500 rural schools in Kenya by 2027" in refused.text  # what was sent is still there


async def test_the_pledger_sees_their_steps_and_staff_decisions_not_staff_notifications(site: Site) -> None:
    pledge = await changes_requested(site)
    async with site.client() as http:
        staff_view = await http.get(
            f"/api/v1/pledges/{pledge.id}", headers={"Authorization": f"Bearer {site.staff[Role.admin]}"}
        )
        page = (await http.get(f"/pledges/{pledge.id}", params={"token": pledge.manage_token})).text
    kinds = [event["kind"] for event in staff_view.json()["timeline"]]
    assert kinds == ["submitted", "changes_requested"]
    assert "Changes requested" in page and NOTE in page
    from api.pages.pledger import NOT_FOR_THE_PLEDGER

    staff_only = {"review_overdue", "review_escalated", "email_failed", "email_skipped", "email_unconfirmed"}
    assert staff_only | {"registry_behind"} == set(NOT_FOR_THE_PLEDGER)


async def test_a_pledges_pages_speak_its_language_unless_the_browser_chose_another(site: Site) -> None:
    pledge = await api_submit(site, language="fr")
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as http:
        french = await http.get(f"/pledges/{pledge.id}", params={"token": pledge.manage_token},
                                headers={"Accept-Language": "en"})  # fmt: skip
        switched = await http.get("/language/es", params={"next": f"/pledges/{pledge.id}?token={pledge.manage_token}"})
        spanish = await http.get(switched.headers["location"])
        elsewhere = await http.get("/language/ar", params={"next": "https://evil.example/"})
        unknown = await http.get("/language/xx", params={"next": "/registry"})
    assert '<html lang="fr" dir="ltr">' in french.text and "Votre engagement" in french.text
    assert switched.status_code == 303 and "pf_lang=es" in switched.headers["set-cookie"]
    assert '<html lang="es" dir="ltr">' in spanish.text and "Su compromiso" in spanish.text
    assert elsewhere.headers["location"] == "/"  # never sent to another site
    assert unknown.status_code == 303 and "set-cookie" not in unknown.headers
