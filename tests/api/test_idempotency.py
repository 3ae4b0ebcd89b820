"""Idempotency-Key (pledgeflow.auth.idempotency): a key is bound to its body, is no credential, and a retried
action is applied once."""

from __future__ import annotations

from sqlmodel import select

from pledgeflow.auth.staff_keys import Role
from pledgeflow.core.db import session_for
from pledgeflow.core.models import TimelineEntry
from tests.api.conftest import bearer, submit, wait_for_row
from tests.conftest import Stack
from tests.factories import submission_data


async def test_someone_elses_key_with_another_body_is_refused_not_answered_with_their_pledge(stack: Stack) -> None:
    key = {"Idempotency-Key": "shared-spreadsheet-row-7"}
    theirs = await stack.http.post("/api/v1/pledges", json=submission_data(), headers=key)
    assert theirs.status_code == 202

    mine = submission_data(title="Another organisation's pledge", focal_point={"name": "Eve", "email": "eve@x.example"})
    reused = await stack.http.post("/api/v1/pledges", json=mine, headers=key)

    assert reused.status_code == 422, reused.text
    assert reused.json()["errors"][0]["field"] == "Idempotency-Key"
    assert theirs.json()["id"] not in reused.text and "manage_token" not in reused.json()


async def test_a_decision_retried_with_its_key_is_applied_once_and_answered_the_same(
    stack: Stack, staff_keys: dict[Role, str]
) -> None:
    pledge = await submit(stack.http)
    request = {
        "json": {"decision": "approve"},
        "headers": {**bearer(staff_keys[Role.vetter]), "Idempotency-Key": "approve-once"},
    }
    first = await stack.http.post(f"/api/v1/pledges/{pledge.id}/decisions", **request)
    again = await stack.http.post(f"/api/v1/pledges/{pledge.id}/decisions", **request)

    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    await wait_for_row(stack.settings.database_url, pledge.id, status="published")
    with session_for(stack.settings.database_url) as session:
        kinds = session.exec(select(TimelineEntry.kind).where(TimelineEntry.pledge_id == pledge.id)).all()
    assert kinds.count("approved") == 1


async def test_an_action_key_reused_with_another_body_is_422(stack: Stack, staff_keys: dict[Role, str]) -> None:
    pledge = await submit(stack.http)
    headers = {**bearer(staff_keys[Role.vetter]), "Idempotency-Key": "decide-7"}
    url = f"/api/v1/pledges/{pledge.id}/decisions"
    asked = await stack.http.post(url, json={"decision": "request_changes", "note": "Add dates."}, headers=headers)
    assert asked.status_code == 201, asked.text

    other = await stack.http.post(url, json={"decision": "reject", "note": "No."}, headers=headers)

    assert other.status_code == 422, other.text
    assert "Idempotency-Key" in other.json()["detail"]
