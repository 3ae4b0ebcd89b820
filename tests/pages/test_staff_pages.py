"""Staff pages: sign-in with a key, the review queue, the decision page and form, roles, sign-out."""

from __future__ import annotations

import asyncio
import html as html_lib
import re

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.auth.staff_keys import Role
from pledgeflow.temporal.pledge_client import PledgeClient
from tests.pages.conftest import Site, api_report, api_submit, csrf_of, published, registry_row, report_link
from tests.pages.test_pledger_pages import field_error
from workflows.state import workflow_id


async def sign_in(http: httpx.AsyncClient, key: str) -> httpx.Response:
    token = csrf_of((await http.get("/staff/login")).text)
    return await http.post("/staff/login", data={"csrf_token": token, "key": key})


async def test_sign_in_refuses_an_unknown_key_by_its_input(site: Site) -> None:
    async with site.client() as http:
        response = await sign_in(http, "pfs_deadbeef_not-a-real-key")
        empty = await sign_in(http, "")
    assert response.status_code == empty.status_code == 401
    assert "not known or no longer active" in (field_error(response.text, "key") or "")
    assert "Enter your staff key" in (field_error(empty.text, "key") or "")
    assert "pfs_deadbeef" not in response.text  # the key is never echoed back
    assert "pf_staff" not in response.headers.get("set-cookie", "")


async def test_session_cookie_flags_and_sign_out(site: Site) -> None:
    async with site.client() as http:
        signed_in = await sign_in(http, site.staff[Role.vetter])
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/staff/queue"
        cookie = signed_in.headers["set-cookie"].lower()
        assert cookie.startswith("pf_staff=")
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/;" in cookie + ";"
        assert "secure" not in cookie
        queue = await http.get("/staff/queue")
        assert queue.status_code == 200 and "Signed in as" in queue.text
        signed_out = await http.post("/staff/logout", data={"csrf_token": csrf_of(queue.text)})
        assert signed_out.status_code == 303
        cleared = signed_out.headers["set-cookie"].lower()
        assert cleared.startswith("pf_staff=") and "max-age=0" in cleared
        after = await http.get("/staff/queue")
    assert after.status_code == 303 and after.headers["location"] == "/staff/login"


async def test_session_cookie_is_secure_when_served_over_https(site: Site) -> None:
    https = site.settings.model_copy(update={"public_base_url": "https://pledges.example.org"})
    transport = httpx.ASGITransport(app=create_app(https))
    async with httpx.AsyncClient(transport=transport, base_url="https://pledges.example.org") as http:
        form = await http.get("/staff/login")
        key = site.staff[Role.vetter]
        response = await http.post("/staff/login", data={"csrf_token": csrf_of(form.text), "key": key})
    assert response.status_code == 303
    # __Host-: Secure, Path=/ and no Domain, so no sibling domain can plant either cookie (no cookie tossing).
    for cookie, name in (
        (form.headers["set-cookie"], "__Host-pf_csrf="),
        (response.headers["set-cookie"], "__Host-pf_staff="),
    ):
        assert cookie.startswith(name), cookie
        flags = cookie.lower()
        assert "secure" in flags and "path=/;" in flags + ";" and "domain" not in flags


async def test_queue_lists_pledges_in_review_longest_waiting_first(site: Site) -> None:
    first = await api_submit(site, title="Queue order: submitted first")
    await registry_row(site, first.id, status="in_review")
    second = await api_submit(site, title="Queue order: submitted second")
    await registry_row(site, second.id, status="in_review")
    async with site.client() as http:
        await sign_in(http, site.staff[Role.vetter])
        page = (await http.get("/staff/queue")).text
    ids = re.findall(r'<a href="/staff/pledges/(PF-\w+)">', page)
    assert first.id in ids and second.id in ids
    assert ids.index(first.id) < ids.index(second.id)


async def test_decision_page_shows_the_submission_in_full_and_a_note_is_needed_to_reject(site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as http:
        await sign_in(http, site.staff[Role.vetter])
        page = (await http.get(f"/staff/pledges/{pledge.id}")).text
        token = csrf_of(page)
        refused = await http.post(
            f"/staff/pledges/{pledge.id}/decision", data={"csrf_token": token, "decision": "reject", "note": ""}
        )
        no_choice = await http.post(f"/staff/pledges/{pledge.id}/decision", data={"csrf_token": token})
        sent_back = await http.post(
            f"/staff/pledges/{pledge.id}/decision",
            data={"csrf_token": token, "decision": "request_changes", "note": "Please give the yearly budget."},
        )
        queue = await http.get(sent_back.headers["location"])
    for shown in ("amina@connect-africa.example", "peter@connect-africa.example", "200 schools connected", "9.c"):
        assert shown in page
    assert refused.status_code == 422
    assert "a note is required to reject" in (field_error(refused.text, "note") or "")
    assert no_choice.status_code == 422 and field_error(no_choice.text, "decision")
    assert sent_back.status_code == 303
    assert f"“Connecting 500 rural schools in Kenya by 2027” ({pledge.id}) sent back for changes." in queue.text
    await registry_row(site, pledge.id, status="changes_requested")


async def test_approval_publishes_and_the_pledge_leaves_the_queue(site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as http:
        await sign_in(http, site.staff[Role.admin])
        token = csrf_of((await http.get(f"/staff/pledges/{pledge.id}")).text)
        approved = await http.post(
            f"/staff/pledges/{pledge.id}/decision", data={"csrf_token": token, "decision": "approve"}
        )
        assert approved.status_code == 303
        await registry_row(site, pledge.id, status="published")
        queue = (await http.get("/staff/queue")).text
        decided_again = await http.post(
            f"/staff/pledges/{pledge.id}/decision", data={"csrf_token": token, "decision": "approve"}
        )
    assert f'href="/staff/pledges/{pledge.id}"' not in queue
    assert decided_again.status_code == 409
    assert "cannot take a vetting decision on a pledge that is" in decided_again.text


async def test_operators_read_but_do_not_decide(site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as http:
        await sign_in(http, site.staff[Role.operator])
        queue = await http.get("/staff/queue")
        page = await http.get(f"/staff/pledges/{pledge.id}")
        decided = await http.post(
            f"/staff/pledges/{pledge.id}/decision", data={"csrf_token": csrf_of(page.text), "decision": "approve"}
        )
    assert queue.status_code == 403 and "needs the role vetter or admin" in queue.text
    assert page.status_code == 200 and 'action="/staff/pledges/' not in page.text
    assert "Only vetters decide" in page.text
    assert decided.status_code == 403
    row = await registry_row(site, pledge.id)
    assert row.status == "in_review"


async def test_staff_pages_need_a_session(site: Site) -> None:
    pledge = await api_submit(site)
    async with site.client() as http:
        for path in ("/staff/queue", f"/staff/pledges/{pledge.id}"):
            response = await http.get(path)
            assert response.status_code == 303 and response.headers["location"] == "/staff/login"
        http.cookies.set("pf_staff", "forged.cookie.value")
        forged = await http.get("/staff/queue")
    assert forged.status_code == 303


async def test_pages_show_what_earlier_runs_recorded(site: Site, dev_env: WorkflowEnvironment) -> None:
    """Issue 10: a new cycle's run carries only the newest timeline line; the pledger's page, the report form
    and the staff page still show the whole timeline and every report, the older ones from the registry."""
    pledge = await published(site)
    link = await report_link(site, pledge.id)  # cycle 1's report request
    handle = dev_env.client.get_workflow_handle(workflow_id(pledge.id))
    first_cycle_run = (await handle.describe()).run_id
    narrative = "Cycle one: 230 schools connected and 1,100 teachers trained."
    await api_report(site, pledge, narrative=narrative)
    async with asyncio.timeout(20):
        while (await handle.describe()).run_id == first_cycle_run:
            await asyncio.sleep(0.1)
    carried = await PledgeClient(site.settings, dev_env.client).state(pledge.id)
    assert carried.cycle == 2
    assert [event.message for event in carried.timeline] == ["Report for reporting cycle 1 received (on track)."]
    assert carried.reports == []

    async with site.client() as http:
        own = html_lib.unescape((await http.get(f"/pledges/{pledge.id}?token={pledge.manage_token}")).text)
        report_form = html_lib.unescape((await http.get(link)).text)
        await sign_in(http, site.staff[Role.operator])
        staff_page = html_lib.unescape((await http.get(f"/staff/pledges/{pledge.id}")).text)
    for page in (own, staff_page):
        assert "Pledge submitted for review." in page and "Approved by the vetting team." in page
        assert "Report for reporting cycle 1 received (on track)." in page
    assert "Report for reporting cycle 1" in own and narrative in own
    assert "We already have a report for this reporting cycle" in report_form
