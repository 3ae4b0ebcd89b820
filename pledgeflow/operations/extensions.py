"""What an operator does to many pledges at once (SPEC 5 step 13): find them with a visibility query on
the pledges' search attributes and send each the same update, so every rule stays in the workflow."""

from __future__ import annotations

import asyncio
import datetime as dt

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from workflows.state import (
    UPDATE_GRANT_EXTENSION,
    WORKFLOW_TYPE,
    ActionResult,
    ExtensionGrantInput,
    PledgeStatus,
    workflow_id,
)

# A cycle is open while its report is asked for and missing; those are the deadlines an outage of the
# report form (or of email) makes unfair.
OPEN_CYCLE_STATUSES = (PledgeStatus.report_due, PledgeStatus.report_overdue, PledgeStatus.non_reporting)
CONCURRENT_UPDATES = 20
UPDATE_TIMEOUT = dt.timedelta(seconds=30)


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
    client: Client, days: int, reason: str, staff: str, *, task_queue: str | None = None
) -> ExtendAllResult:
    """Grant every open cycle ``days`` more days (e.g. after a reporting-form outage).

    Each pledge's own validator decides (the policy's maximum per cycle applies); ``task_queue``
    limits the sweep to one deployment's pledges when several share a namespace.
    """
    grant = ExtensionGrantInput(days=days, reason=reason, staff=staff)
    result = ExtendAllResult()
    limit = asyncio.Semaphore(CONCURRENT_UPDATES)

    async def extend(pledge_id: str) -> None:
        handle = client.get_workflow_handle(workflow_id(pledge_id))
        async with limit:
            try:
                await handle.execute_update(
                    UPDATE_GRANT_EXTENSION, grant, result_type=ActionResult, rpc_timeout=UPDATE_TIMEOUT
                )
            except WorkflowUpdateFailedError as failure:
                cause = failure.cause
                result.refused[pledge_id] = cause.message if isinstance(cause, ApplicationError) else str(cause)
                return
            except RPCError as error:
                result.failed[pledge_id] = error.message
                return
        result.extended.append(pledge_id)

    await asyncio.gather(*(extend(pledge_id) for pledge_id in await open_cycle_pledges(client, task_queue)))
    result.extended.sort()
    return result
