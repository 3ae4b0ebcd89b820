"""What an operator does to many pledges at once (docs/lifecycle.md §13): find them with a visibility query on
the pledges' search attributes and send each the same update, so every rule stays in the workflow."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from pledgeflow.temporal.pledge_client import ActionRefused, PledgeClient, PledgeError
from workflows.state import WORKFLOW_TYPE, ExtensionGrantInput, PledgeStatus, workflow_id

# A cycle is open while its report is asked for and missing; those are the deadlines an outage of the
# report form (or of email) makes unfair.
OPEN_CYCLE_STATUSES = (PledgeStatus.report_due, PledgeStatus.report_overdue, PledgeStatus.non_reporting)
CONCURRENT_UPDATES = 20


class ExtendAllResult(BaseModel):
    extended: list[str] = []  # pledge ids
    refused: dict[str, str] = {}  # pledge id → the workflow's reason (e.g. over the maximum)
    failed: dict[str, str] = {}  # pledge id → why it could not be asked (no worker answered, closed meanwhile)


def open_cycles_query(task_queue: str | None = None) -> str:
    statuses = ", ".join(f"'{status.value}'" for status in OPEN_CYCLE_STATUSES)
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND PledgeStatus IN ({statuses})"
    return f"{query} AND TaskQueue = '{task_queue}'" if task_queue else query


async def open_cycle_pledges(client: Client, task_queue: str | None = None) -> list[str]:
    """Ids of the pledges whose report is asked for and missing, as visibility sees them now."""
    executions = client.list_workflows(open_cycles_query(task_queue))
    return sorted([execution.id.removeprefix(workflow_id("")) async for execution in executions])


async def extend_all_open_cycles(
    pledges: PledgeClient, days: int, reason: str, staff: str, *, task_queue: str | None = None
) -> ExtendAllResult:
    """Grant every open cycle ``days`` more days (e.g. after a reporting-form outage).

    Each pledge's own validator decides (the policy's maximum per cycle applies); ``task_queue``
    limits the sweep to one deployment's pledges when several share a namespace.
    """
    grant = ExtensionGrantInput(days=days, reason=reason, staff=staff)
    result = ExtendAllResult()
    limit = asyncio.Semaphore(CONCURRENT_UPDATES)

    async def extend(pledge_id: str) -> None:
        async with limit:
            try:
                await pledges.grant_extension(pledge_id, grant)
            except ActionRefused as refusal:
                result.refused[pledge_id] = refusal.message
                return
            except (PledgeError, RPCError) as error:
                result.failed[pledge_id] = str(error)
                return
        result.extended.append(pledge_id)

    open_now = await open_cycle_pledges(await pledges.temporal(), task_queue)
    await asyncio.gather(*(extend(pledge_id) for pledge_id in open_now))
    result.extended.sort()
    return result
