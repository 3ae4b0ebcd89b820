"""An action that reaches a pledge while its submission stage is still running (the API answers 202 as
soon as the workflow starts, so a quick vetter can decide before the policy has even been read) waits for
that stage, and lands after it on the timeline."""

from __future__ import annotations

import asyncio
import json

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from activities.policy import PolicyActivities
from pledgeflow.core.db import session_for
from pledgeflow.core.settings import Settings
from pledgeflow.registry.pledge_history import with_whole_history
from tests.factories import make_submission
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import Mailbox
from workflows.emails import EmailKind
from workflows.policy import LoadedPolicy
from workflows.state import UPDATE_DECIDE, ActionResult, Decision, DecisionInput, PledgeStatus, workflow_id


class GatedPolicy:
    """The real load_policy, held back until the test opens the gate."""

    def __init__(self, settings: Settings) -> None:
        self.real = PolicyActivities(settings)
        self.gate = asyncio.Event()
        self.asked = asyncio.Event()

    @activity.defn(name="load_policy")
    async def load_policy(self) -> LoadedPolicy:
        self.asked.set()
        await self.gate.wait()
        return await asyncio.to_thread(self.real.load_policy)


async def activities_done_once_accepted(handle: WorkflowHandle[object, object]) -> list[str]:
    """The activities the workflow has run or asked for, read once its history shows the update accepted.

    A handler that went ahead instead of waiting would have run its registry write (a local activity,
    10-local-activities) in the very workflow task that accepted the update, so it would be in this list.
    """
    while True:
        events = [event async for event in handle.fetch_history_events()]
        if any(event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for event in events):
            done = [
                event.activity_task_scheduled_event_attributes.activity_type.name
                for event in events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ]
            markers = [
                e.marker_recorded_event_attributes for e in events if e.HasField("marker_recorded_event_attributes")
            ]
            local = [m.details["data"].payloads[0].data for m in markers if m.marker_name == "core_local_activity"]
            return done + [json.loads(data)["activity_type"] for data in local]
        await asyncio.sleep(0.05)


async def test_a_decision_sent_before_the_policy_is_read_waits_for_the_submission_stage(
    env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox
) -> None:
    policy = GatedPolicy(settings)
    async with run_pledge_worker(env, settings, mailbox, load_policy=policy.load_policy) as pledges:
        client = pledges.pledge_client
        pledge_id = await client.start(make_submission())
        handle = env.client.get_workflow_handle(workflow_id(pledge_id))
        # Sent as the API sends it, without the API's 15 s wait for acceptance: the workflow task running the
        # held policy read (a local activity) is extended every 8 s, and the update accepted in one of them.
        approval = DecisionInput(decision=Decision.approve, staff="vera")
        update = await handle.start_update(
            UPDATE_DECIDE, approval, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=ActionResult
        )
        decision = asyncio.create_task(update.result())
        done = await asyncio.wait_for(activities_done_once_accepted(handle), timeout=30)
        assert policy.asked.is_set() and done == []  # the update is with the workflow, the policy read still held
        await asyncio.sleep(0.5)
        assert not decision.done()
        policy.gate.set()
        result = await asyncio.wait_for(decision, timeout=30)
        assert result.status == PledgeStatus.published

        async with asyncio.timeout(30):
            while True:
                state = await client.state(pledge_id)
                if state.cycle >= 1:
                    break
                await asyncio.sleep(0.2)
        async with asyncio.timeout(30):  # the emails go out beside the ladder, on their own task queue
            while len(mailbox.of(pledge_id)) < 3:
                await asyncio.sleep(0.1)

    with session_for(settings.database_url) as session:  # the first run's lines stay in the registry only
        kinds = [event.kind for event in with_whole_history(session, state).timeline]
    assert kinds.index("submitted") < kinds.index("approved"), kinds
    sent = [email.kind for email in mailbox.of(pledge_id)]
    assert sent.index(EmailKind.review_requested) < sent.index(EmailKind.published), sent
