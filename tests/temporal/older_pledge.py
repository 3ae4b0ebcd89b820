"""A pledge started by older code: its workflow answers the state query but knows none of today's updates.

It runs on a worker of its own task queue on the session's dev server, so an action the API carries to
it meets a workflow that does not know that update, as a pledge from an earlier release would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from temporalio import workflow
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from pledgeflow.core import ids
from tests.factories import make_submission
from workflows.state import QUERY_STATE, PledgeState, PledgeStatus, workflow_id


@workflow.defn(name="OlderPledgeWorkflow")
class OlderPledgeWorkflow:
    @workflow.init
    def __init__(self, state: PledgeState) -> None:
        self.state = state

    @workflow.query(name=QUERY_STATE)
    def query_state(self) -> PledgeState:
        return self.state

    @workflow.run
    async def run(self, state: PledgeState) -> None:
        await workflow.wait_condition(lambda: False)


@asynccontextmanager
async def older_pledge(client: Client, status: PledgeStatus = PledgeStatus.published) -> AsyncIterator[str]:
    """The id of a running pledge of older code, in ``status``."""
    queue = f"older-pledges-{uuid.uuid4().hex[:8]}"
    pledge_id = ids.new_pledge_id()
    state = PledgeState(
        pledge_id=pledge_id, submission=make_submission(), status=status, submitted_at=dt.datetime.now(dt.UTC)
    )
    async with Worker(
        client, task_queue=queue, workflows=[OlderPledgeWorkflow], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await client.start_workflow(
            OlderPledgeWorkflow.run, state, id=workflow_id(pledge_id), task_queue=queue
        )
        await handle.query(OlderPledgeWorkflow.query_state)  # running, as a pledge from long ago would be
        try:
            yield pledge_id
        finally:
            with suppress(RPCError):  # a test may have ended it already
                await handle.terminate("test finished")
