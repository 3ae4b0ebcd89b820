"""Staff endpoints: the review queue, decisions, extensions and closure, each with its refusals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from pledgeflow.auth.staff_keys import Role, authenticate
from pledgeflow.core.db import session_for
from tests.api.conftest import Submitted, bearer, decide, in_status, status_of, submit, wait_for_row
from tests.conftest import Stack
from tests.factories import submission_data


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def _state(http: httpx.AsyncClient, pledge: Submitted) -> dict[str, Any]:
    response = await http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- review queue ---------------------------------------------------------------------------------


async def _queue(stack: Stack, key: str, mine: list[Submitted]) -> list[str]:
    response = await stack.http.get("/api/v1/review/queue", headers=bearer(key))
    assert response.status_code == 200, response.text
    ids = {pledge.id for pledge in mine}
    return [item["id"] for item in response.json()["items"] if item["id"] in ids]


async def test_review_queue_lists_pledges_in_review_longest_waiting_first(
    stack: Stack, staff_keys: dict[Role, str]
) -> None:
    vetter = staff_keys[Role.vetter]
    first, second, third = [await submit(stack.http) for _ in range(3)]
    for pledge in (first, second, third):
        await wait_for_row(stack.settings.database_url, pledge.id)
    assert await _queue(stack, vetter, [first, second, third]) == [first.id, second.id, third.id]

    # Approved: out of the queue. Sent back and revised: waiting again, from the revision on.
    await decide(stack.http, second, vetter, "approve")
    await decide(stack.http, first, vetter, "request_changes")
    revised = await stack.http.put(
        f"/api/v1/pledges/{first.id}/submission", json=submission_data(), headers={**first.auth, "If-Match": '"1"'}
    )
    assert revised.status_code == 200, revised.text
    await wait_for_row(stack.settings.database_url, second.id, status="published")
    await wait_for_row(stack.settings.database_url, first.id, status="in_review", submission_version=2)
    assert await _queue(stack, vetter, [first, second, third]) == [third.id, first.id]

    item = next(
        item
        for item in (await stack.http.get("/api/v1/review/queue", headers=bearer(vetter))).json()["items"]
        if item["id"] == first.id
    )
    assert item["title"] == "Connecting 500 rural schools in Kenya by 2027"
    assert item["submission_version"] == 2
    assert dt.datetime.fromisoformat(item["waiting_since"]) > dt.datetime.fromisoformat(item["submitted_at"])


async def test_review_queue_limit_is_validated(stack: Stack, staff_keys: dict[Role, str]) -> None:
    response = await stack.http.get("/api/v1/review/queue?limit=0", headers=bearer(staff_keys[Role.vetter]))
    assert [error["field"] for error in _assert_problem(response, 422)["errors"]] == ["limit"]


# --- decisions ------------------------------------------------------------------------------------


async def test_approval_publishes_and_names_the_staff_member(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http = shared_stack.http
    pledge = await submit(http)
    response = await http.post(
        f"/api/v1/pledges/{pledge.id}/decisions",
        json={"decision": "approve"},
        headers=bearer(shared_staff[Role.vetter]),
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "published"
    with session_for(shared_stack.settings.database_url) as session:
        account = authenticate(session, shared_staff[Role.vetter])
    assert account is not None
    actors = [(event["actor"], event["staff"]) for event in (await _state(http, pledge))["timeline"]]
    assert ("staff", account.name) in actors


async def test_rejection_needs_a_note(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http, key = shared_stack.http, bearer(shared_staff[Role.vetter])
    pledge = await submit(http)
    bare = await http.post(f"/api/v1/pledges/{pledge.id}/decisions", json={"decision": "reject"}, headers=key)
    assert "note" in _assert_problem(bare, 422)["detail"]
    assert await status_of(http, pledge) == "in_review"
    noted = await http.post(
        f"/api/v1/pledges/{pledge.id}/decisions",
        json={"decision": "reject", "note": "Outside the programme's scope."},
        headers=key,
    )
    assert noted.status_code == 201, noted.text
    state = await _state(http, pledge)
    assert (state["status"], state["closure_reason"]) == ("closed", "rejected")


async def test_invalid_decision_is_422_naming_the_field(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    pledge = await submit(shared_stack.http)
    response = await shared_stack.http.post(
        f"/api/v1/pledges/{pledge.id}/decisions",
        json={"decision": "maybe", "note": "x" * 5001},
        headers=bearer(shared_staff[Role.vetter]),
    )
    assert {error["field"] for error in _assert_problem(response, 422)["errors"]} == {"decision", "note"}


async def test_second_approval_by_the_same_staff_member_is_403(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    http = shared_stack.http
    big = await submit(http, resources={"financial_usd": 250_000_000, "funding_sources": ["private_sector"]})
    approve = {"decision": "approve"}
    first = await http.post(
        f"/api/v1/pledges/{big.id}/decisions", json=approve, headers=bearer(shared_staff[Role.vetter])
    )
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "in_review"  # above the policy's value: a second approver is needed
    same = await http.post(
        f"/api/v1/pledges/{big.id}/decisions", json=approve, headers=bearer(shared_staff[Role.vetter])
    )
    _assert_problem(same, 403)
    other = await http.post(
        f"/api/v1/pledges/{big.id}/decisions", json=approve, headers=bearer(shared_staff[Role.admin])
    )
    assert other.status_code == 201, other.text
    assert other.json()["status"] == "published"


async def test_decision_outside_review_is_409_naming_the_status(
    shared_stack: Stack, shared_staff: dict[Role, str]
) -> None:
    pledge = await in_status(shared_stack, "changes_requested", shared_staff[Role.vetter])
    response = await shared_stack.http.post(
        f"/api/v1/pledges/{pledge.id}/decisions",
        json={"decision": "approve"},
        headers=bearer(shared_staff[Role.vetter]),
    )
    body = _assert_problem(response, 409)
    assert body["pledge_status"] == "changes_requested"
    assert "changes_requested" in body["detail"]


async def test_decision_on_an_unknown_pledge_is_404(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    response = await shared_stack.http.post(
        "/api/v1/pledges/PF-2345678/decisions", json={"decision": "approve"}, headers=bearer(shared_staff[Role.admin])
    )
    _assert_problem(response, 404)


# --- extensions -----------------------------------------------------------------------------------


async def test_extension_moves_the_cycles_deadline(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http, key = shared_stack.http, bearer(shared_staff[Role.operator])
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    before = dt.datetime.fromisoformat((await _state(http, pledge))["next_deadline"])
    response = await http.post(
        f"/api/v1/pledges/{pledge.id}/extensions", json={"days": 30, "reason": "Reporting form outage"}, headers=key
    )
    assert response.status_code == 201, response.text
    after = dt.datetime.fromisoformat(response.json()["next_deadline"])
    assert after - before == dt.timedelta(days=30)


async def test_extension_refusals(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http, key = shared_stack.http, bearer(shared_staff[Role.operator])
    due = await in_status(shared_stack, "report_due", shared_staff[Role.admin])
    zero = await http.post(f"/api/v1/pledges/{due.id}/extensions", json={"days": 0, "reason": "x"}, headers=key)
    assert {error["field"] for error in _assert_problem(zero, 422)["errors"]} == {"days", "reason"}
    too_long = await http.post(
        f"/api/v1/pledges/{due.id}/extensions", json={"days": 61, "reason": "A long audit"}, headers=key
    )
    _assert_problem(too_long, 422)  # the policy's maximum is 60 days
    in_review = await submit(http)
    early = await http.post(
        f"/api/v1/pledges/{in_review.id}/extensions", json={"days": 30, "reason": "A long audit"}, headers=key
    )
    assert _assert_problem(early, 409)["pledge_status"] == "in_review"


async def test_refusing_a_waiting_extension_request(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http, key = shared_stack.http, bearer(shared_staff[Role.operator])
    pledge = await in_status(shared_stack, "report_due", shared_staff[Role.admin], asked_for_extension=True)
    refusal = {"reason": "The deadline already allows for the survey."}
    refused = await http.post(f"/api/v1/pledges/{pledge.id}/extension-refusals", json=refusal, headers=key)
    assert refused.status_code == 201, refused.text
    assert (await _state(http, pledge))["pending_extension_reason"] is None
    again = await http.post(f"/api/v1/pledges/{pledge.id}/extension-refusals", json=refusal, headers=key)
    body = _assert_problem(again, 409)
    assert body["pledge_status"] == "report_due"
    assert "no extension request" in body["detail"]


# --- closure --------------------------------------------------------------------------------------


async def test_closure_removes_the_pledge_with_its_reason(shared_stack: Stack, shared_staff: dict[Role, str]) -> None:
    http, key = shared_stack.http, bearer(shared_staff[Role.operator])
    pledge = await submit(http)
    missing = await http.post(f"/api/v1/pledges/{pledge.id}/closure", json={}, headers=key)
    assert [error["field"] for error in _assert_problem(missing, 422)["errors"]] == ["reason"]
    closed = await http.post(
        f"/api/v1/pledges/{pledge.id}/closure", json={"reason": "Duplicate of an earlier pledge"}, headers=key
    )
    assert closed.status_code == 200, closed.text
    state = await _state(http, pledge)
    assert (state["status"], state["closure_reason"]) == ("closed", "removed")
    again = await http.post(f"/api/v1/pledges/{pledge.id}/closure", json={"reason": "Once more"}, headers=key)
    assert _assert_problem(again, 409)["pledge_status"] == "closed"
