"""Issue 9: the one-click unsubscribe link of reminder mail (RFC 8058, docs/email.md §7) at the door: it
admits its own token only, its token opens nothing else, and opening it (GET) never acts. The whole path
over real SMTP, from a reminder's header to the next reminder, is tests/inbound/test_one_click_unsubscribe.py.
"""

from __future__ import annotations

from typing import Any

import httpx

from pledgeflow.auth.staff_keys import Role
from pledgeflow.auth.tokens import Purpose, TokenClaims, issue, recipient_digest
from pledgeflow.core.settings import Settings
from tests.api.conftest import Submitted, bearer, in_status, submit
from tests.conftest import Stack
from tests.factories import report_data, submission_data
from workflows.state import workflow_id

FOCAL = "amina@connect-africa.example"
BACKUP = "peter@connect-africa.example"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def unsubscribe_token(settings: Settings, pledge_id: str, address: str | None, version: int = 1) -> str:
    secret = settings.signing_key()
    recipient = recipient_digest(secret, address) if address else None
    return issue(secret, TokenClaims(pledge_id, Purpose.unsubscribe, version, recipient=recipient))


def link(pledge_id: str, token: str) -> str:
    return f"/pledges/{pledge_id}/unsubscribe?token={token}"


async def state_of(http: httpx.AsyncClient, pledge: Submitted) -> dict[str, Any]:
    response = await http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_unsubscribe_token_opens_nothing_else(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http = shared_stack.http
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    token = unsubscribe_token(shared_stack.settings, pledge.id, FOCAL)
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"/api/v1/pledges/{pledge.id}", None),
        ("POST", f"/api/v1/pledges/{pledge.id}/reports", report_data()),
        ("POST", f"/api/v1/pledges/{pledge.id}/extension-requests", {"reason": "Our survey ends in six weeks."}),
        ("POST", f"/api/v1/pledges/{pledge.id}/withdrawal", {}),
        ("PUT", f"/api/v1/pledges/{pledge.id}/submission", submission_data()),
        ("POST", f"/api/v1/pledges/{pledge.id}/decisions", {"decision": "approve"}),
        ("POST", f"/api/v1/pledges/{pledge.id}/extensions", {"days": 10, "reason": "outage"}),
        ("POST", f"/api/v1/pledges/{pledge.id}/closure", {"reason": "Duplicate entry"}),
        ("GET", "/api/v1/review/queue", None),
    ]
    for method, path, body in calls:
        response = await http.request(method, path, json=body, headers=bearer(token) | {"If-Match": "*"})
        assert (response.status_code, response.json()["detail"]) == (401, "token invalid"), (method, path)
    for page in (f"/pledges/{pledge.id}", f"/pledges/{pledge.id}/report", f"/pledges/{pledge.id}/withdraw"):
        response = await http.get(page, params={"token": token})
        assert response.status_code == 401, page
    state = await state_of(http, pledge)
    assert (state["status"], state["reports"], state["reminders_stopped"]) == ("report_due", [], [])


async def test_the_link_admits_only_an_unsubscribe_token_of_its_pledge_naming_a_contact(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http, settings = shared_stack.http, shared_stack.settings
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    other = await submit(http)
    report_link = issue(settings.signing_key(), TokenClaims(pledge.id, Purpose.report, 1, cycle=1))
    refused = {
        "the manage token": (pledge.token, 401),
        "a report link's token": (report_link, 401),
        "another pledge's unsubscribe token": (unsubscribe_token(settings, other.id, FOCAL), 403),
        "a token of a version not in force": (unsubscribe_token(settings, pledge.id, FOCAL, version=2), 401),
        "a token naming no recipient": (unsubscribe_token(settings, pledge.id, None), 401),
        "a token for someone else": (unsubscribe_token(settings, pledge.id, "ana@elsewhere.example"), 404),
        "a mangled token": (unsubscribe_token(settings, pledge.id, FOCAL)[:-2] + "xx", 401),
    }
    for what, (token, status) in refused.items():
        opened = await http.get(link(pledge.id, token))
        posted = await http.post(link(pledge.id, token), data=ONE_CLICK)
        assert (opened.status_code, posted.status_code) == (status, status), what
        assert "text/html" in posted.headers["content-type"], what
    assert (await http.post(f"/pledges/{pledge.id}/unsubscribe", data=ONE_CLICK)).status_code == 401
    assert (await state_of(http, pledge))["reminders_stopped"] == []


async def test_opening_the_link_only_asks(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    """Mail scanners and link previews open every link: a GET shows a question and a button, nothing more."""
    http = shared_stack.http
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    before = await state_of(http, pledge)
    token = unsubscribe_token(shared_stack.settings, pledge.id, BACKUP)
    for _ in range(3):
        page = await http.get(link(pledge.id, token))
        assert page.status_code == 200
        assert "Stop reminders about “Connecting 500 rural schools in Kenya by 2027”?" in page.text
        assert f'<form method="post" action="/pledges/{pledge.id}/unsubscribe?token={token}">' in page.text
        assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
        assert "p•••@connect-africa.example" in page.text and BACKUP not in page.text
    after = await state_of(http, pledge)
    assert after["reminders_stopped"] == [] and after["timeline"] == before["timeline"]


async def test_a_post_without_the_one_click_body_changes_nothing(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http = shared_stack.http
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    token = unsubscribe_token(shared_stack.settings, pledge.id, BACKUP)
    for body in ({}, {"List-Unsubscribe": "yes"}, {"unsubscribe": "One-Click"}):
        response = await http.post(link(pledge.id, token), data=body)
        assert response.status_code == 422, body
        assert "List-Unsubscribe=One-Click" in response.text
    assert (await state_of(http, pledge))["reminders_stopped"] == []


async def test_the_one_click_post_in_either_form_encoding_stops_that_contact_and_answers_without_a_redirect(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    """RFC 8058 §3.2: the body is multipart/form-data or application/x-www-form-urlencoded; §3.1: no redirect."""
    http, settings = shared_stack.http, shared_stack.settings
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    backup, focal = (unsubscribe_token(settings, pledge.id, address) for address in (BACKUP, FOCAL))

    multipart = await http.post(link(pledge.id, backup), files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200, multipart.text
    assert "Reminders to the backup contact of this pledge are stopped; the pledge itself goes on." in multipart.text
    assert (await state_of(http, pledge))["reminders_stopped"] == [BACKUP]

    urlencoded = await http.post(link(pledge.id, focal), content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert urlencoded.status_code == 200
    again = await http.post(link(pledge.id, focal), data=ONE_CLICK)
    assert "Reminders to the focal point of this pledge were already stopped." in again.text
    state = await state_of(http, pledge)
    assert (state["status"], sorted(state["reminders_stopped"])) == ("report_due", [FOCAL, BACKUP])
    stopped = [event for event in state["timeline"] if event["kind"] == "reminders_stopped"]
    assert [(event["public"], event["actor"]) for event in stopped] == [(False, "pledger"), (False, "pledger")]


async def test_the_link_of_a_closed_pledge_says_nothing_more_is_sent(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http = shared_stack.http
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    withdrawn = await http.post(f"/api/v1/pledges/{pledge.id}/withdrawal", json={}, headers=pledge.auth)
    assert withdrawn.status_code == 200
    await shared_stack.client.get_workflow_handle(workflow_id(pledge.id)).result()
    response = await http.post(
        link(pledge.id, unsubscribe_token(shared_stack.settings, pledge.id, FOCAL)), data=ONE_CLICK
    )
    assert response.status_code == 200
    assert "This pledge is closed: no more reminders are sent for it." in response.text
    assert "The secretariat" not in response.text and "<h1>No more reminders</h1>" in response.text
