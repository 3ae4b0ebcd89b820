"""A pledge read while its first workflow task waits for the policy still replays (workflows/changes.py).

The pledger's page asks for the pledge's state right after the submission. When that query comes with the
workflow's first task, the SDK's core answers it while the policy's local activity runs, records the
activity's result in that task and hands it to the workflow only in the next task. Before the baseline the
code after the policy read asked its patches there, and no replay of such a history could pass: a fresh
worker could no longer run the pledge. The test makes the query wait for the worker (workers stopped,
pledges submitted, their pages read), so that it comes with the first task, then checks that the result
did reach the workflow a task late, that every run replays and that fresh workers can read the pledges;
once more with an approval waiting beside each read, so that the moved result and the update meet.
With ``PLEDGEFLOW_RECORD_HISTORIES=1`` it records one of them for tests/workflows/test_replay.py.
"""

from __future__ import annotations

import asyncio

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from pledgeflow.auth.staff_keys import Role
from tests.api.conftest import Submitted
from tests.factories import submission_data
from tests.workflows.histories import HISTORIES, recording
from tests.workflows.test_exclusive_actions import Racetrack, _replays, racetrack  # noqa: F401 - the fixture

PLEDGES = 3


def result_came_a_task_late(history: WorkflowHistory) -> bool:
    """The first local activity's result marker and the first email asked for are in different tasks."""
    events = list(history.events)
    marker = next(
        index
        for index, event in enumerate(events)
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )
    email = next(
        index for index, event in enumerate(events) if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )
    return any(event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for event in events[marker:email])


@pytest.mark.parametrize("approved", [False, True], ids=["read", "read_and_approved"])
async def test_a_pledge_read_while_its_policy_is_read_replays(racetrack: Racetrack, approved: bool) -> None:  # noqa: F811
    pledges = []
    for _ in range(PLEDGES):  # no worker runs: each workflow's first task waits on the server
        response = await racetrack.http.post("/api/v1/pledges", json=submission_data())
        assert response.status_code == 202, response.text
        body = response.json()
        pledges.append(Submitted(id=body["id"], token=body["manage_token"]))
        racetrack.pledges.append(body["id"])
    pages = [racetrack.http.get(f"/api/v1/pledges/{p.id}", headers=racetrack.auth(Role.admin)) for p in pledges]
    reading = asyncio.gather(*pages)
    approval = {"decision": "approve"}
    approvals = [
        racetrack.http.post(f"/api/v1/pledges/{p.id}/decisions", json=approval, headers=racetrack.auth(Role.admin))
        for p in pledges
        if approved
    ]
    approving = asyncio.gather(*approvals)
    await asyncio.sleep(0.5)  # the queries (and updates) wait on the server too, and come with the first tasks
    async with racetrack.workers():
        assert [page.status_code for page in await reading] == [200] * PLEDGES
        assert [answer.status_code for answer in await approving] == [201] * len(approvals)
        for pledge in pledges:
            await racetrack.quiet(pledge)
    histories = [await racetrack.histories(pledge) for pledge in pledges]
    late = [runs[0] for runs in histories if result_came_a_task_late(runs[0])]
    assert late, "no query came with a first task: the test did not set up what it tests"
    for runs in histories:
        await _replays(runs)
    first = ["submitted", "approved"] if approved else ["submitted"]
    async with racetrack.workers():  # fresh workers, nothing cached: each page replays the pledge
        for pledge in pledges:
            state = await racetrack.until(pledge, lambda state: bool(state.timeline))
            kinds = [event.kind.value for event in state.timeline]
            assert kinds[: len(first)] == first, kinds
    if recording() and not approved:
        path = HISTORIES / "policy_read_with_a_query.1.json"
        await asyncio.to_thread(path.write_text, late[0].to_json())
