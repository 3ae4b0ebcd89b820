"""The walking skeleton: submit through the API, the workflow records it and emails the pledger."""

from __future__ import annotations

import asyncio

from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge
from tests.conftest import Stack
from tests.factories import submission_data
from workflows.search_attributes import STATUS
from workflows.state import workflow_id


async def _wait_for_row(url: str, pledge_id: str) -> Pledge:
    async with asyncio.timeout(20):
        while True:
            with session_for(url) as session:
                row = session.exec(select(Pledge).where(Pledge.id == pledge_id)).first()
            if row is not None:
                return row
            await asyncio.sleep(0.1)


async def _waiting_for_vetting(handle: WorkflowHandle[object, object]) -> bool:
    """The submission stage is done, emails included: nothing is pending but the vetting reminder's timer."""
    raw = (await handle.describe()).raw_description
    if raw.pending_activities or raw.HasField("pending_workflow_task"):
        return False
    return any(
        [event.event_type == EventType.EVENT_TYPE_TIMER_STARTED async for event in handle.fetch_history_events()]
    )


async def _settled_workflows(stack: Stack, pledge_id: str) -> list[str]:
    """The ids of the workflows on this stack's task queue, once ``pledge_id``'s is listed among them and
    every one of them waits for vetting: by then each has sent all the email it was going to send."""
    query = f"TaskQueue = '{stack.settings.task_queue}'"
    async with asyncio.timeout(20):
        while True:
            listed = [execution async for execution in stack.client.list_workflows(query)]
            handles = [stack.client.get_workflow_handle(execution.id) for execution in listed]
            if workflow_id(pledge_id) in {execution.id for execution in listed} and all(
                [await _waiting_for_vetting(handle) for handle in handles]
            ):
                return sorted(execution.id for execution in listed)
            await asyncio.sleep(0.1)


async def test_submission_starts_workflow_records_and_emails(stack: Stack) -> None:
    response = await stack.http.post("/api/v1/pledges", json=submission_data())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["id"].startswith("PF-") and body["status"] == "in_review"

    description = await stack.client.get_workflow_handle(workflow_id(body["id"])).describe()
    assert description.typed_search_attributes.get(STATUS) == "in_review"

    row = await _wait_for_row(stack.settings.database_url, body["id"])
    assert row.title == "Connecting 500 rural schools in Kenya by 2027"
    assert row.status == "in_review"

    await stack.smtp.wait_for(2)  # "received" to the pledger, "review requested" to the vetting team
    [received] = stack.smtp.to("amina@connect-africa.example")
    assert received["X-Pledgeflow-Pledge"] == body["id"]
    [review] = stack.smtp.to(stack.settings.vetting_team_email)
    assert review["X-Pledgeflow-Pledge"] == body["id"]

    owner = await stack.http.get(
        f"/api/v1/pledges/{body['id']}", headers={"Authorization": f"Bearer {body['manage_token']}"}
    )
    assert owner.status_code == 200
    assert owner.json()["status"] == "in_review"
    assert owner.json()["submission"]["focal_point"]["email"] == "amina@connect-africa.example"


async def test_owner_view_needs_the_token(stack: Stack) -> None:
    body = (await stack.http.post("/api/v1/pledges", json=submission_data())).json()
    anonymous = await stack.http.get(f"/api/v1/pledges/{body['id']}")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    forged = await stack.http.get(f"/api/v1/pledges/{body['id']}", headers={"Authorization": "Bearer nonsense"})
    assert forged.status_code == 401


async def test_invalid_submission_is_422_naming_each_field_and_starts_nothing(stack: Stack) -> None:
    bad = submission_data(title="Hi", sdgs=[], focal_point={"name": "A", "email": "not-an-address"})
    response = await stack.http.post("/api/v1/pledges", json=bad)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"title", "sdgs", "focal_point.email"} <= fields
    # A valid pledge sent afterwards: once it is listed and has sent its emails, whatever the invalid one
    # had started would be listed (and sending) too.
    valid = (await stack.http.post("/api/v1/pledges", json=submission_data())).json()
    started = await _settled_workflows(stack, valid["id"])
    assert started == [workflow_id(valid["id"])]
    assert {message["X-Pledgeflow-Pledge"] for message in stack.smtp.messages} == {valid["id"]}


async def test_deliverables_are_due_within_the_pledges_dates_and_every_rule_across_fields_answers_at_once(
    stack: Stack,
) -> None:
    bad = submission_data(
        countries=[],
        end_date="2027-06-30",
        deliverables=[
            {"title": "200 schools connected", "due_date": "2025-12-31"},
            {"title": "500 schools connected", "due_date": "2027-12-31"},
        ],
    )
    response = await stack.http.post("/api/v1/pledges", json=bad)
    assert response.status_code == 422
    errors = {error["field"]: error["message"] for error in response.json()["errors"]}
    assert errors == {
        "countries": "countries: required unless geographic_scope is global",
        "deliverables.0.due_date": "deliverables.0.due_date: is before the pledge's start_date",
        "deliverables.1.due_date": "deliverables.1.due_date: is after the pledge's end_date",
    }


async def test_same_idempotency_key_gives_one_pledge_one_workflow_one_email(stack: Stack) -> None:
    headers = {"Idempotency-Key": "import-batch-7/line-42"}
    first = await stack.http.post("/api/v1/pledges", json=submission_data(), headers=headers)
    second = await stack.http.post("/api/v1/pledges", json=submission_data(), headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    await stack.smtp.wait_for(2)
    await _settled_workflows(stack, first.json()["id"])  # a duplicate workflow would have sent by now, were there one
    assert len(stack.smtp.to("amina@connect-africa.example")) == 1
    assert len(stack.smtp.messages) == 2  # and the one "review requested" to the vetting team
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{workflow_id(first.json()['id'])}'")]
    assert len(runs) == 1


async def test_idempotency_key_retried_after_the_pledge_closed_still_answers_with_it(stack: Stack) -> None:
    headers = {"Idempotency-Key": "import-batch-7/line-43"}
    first = (await stack.http.post("/api/v1/pledges", json=submission_data(), headers=headers)).json()
    await stack.client.get_workflow_handle(workflow_id(first["id"])).terminate(reason="test: closed")
    again = await stack.http.post("/api/v1/pledges", json=submission_data(), headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first["id"]
