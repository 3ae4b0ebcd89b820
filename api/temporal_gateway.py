"""Everything the API asks of Temporal, and how each answer becomes an HTTP status.

The client connects lazily, so the API starts (and answers 503) while Temporal is down. The workflow's
update validators decide whether an action is allowed now; this module only translates their refusals
(``REFUSED_*`` in workflows.state) into 409 / 412 / 422 / 403, and an unreachable server into 503.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import NoReturn

from pydantic import BaseModel
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import ProblemError, unavailable
from pledgeflow.core import ids
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.connection import connect
from workflows.search_attributes import initial_search_attributes
from workflows.state import (
    QUERY_STATE,
    REFUSED_FORBIDDEN,
    REFUSED_INVALID,
    REFUSED_NOT_ALLOWED,
    REFUSED_STALE,
    WORKFLOW_TYPE,
    ActionResult,
    PledgeState,
    PledgeStatus,
    StartInput,
    workflow_id,
)
from workflows.submission import Submission

CONNECT_TIMEOUT = 5.0
# A query or update needs a worker to answer; without one the server would hold the call for a minute.
ANSWER_TIMEOUT = 15.0
MAX_ID_ATTEMPTS = 8

REFUSAL_STATUS = {REFUSED_NOT_ALLOWED: 409, REFUSED_STALE: 412, REFUSED_INVALID: 422, REFUSED_FORBIDDEN: 403}
_UNREACHABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED)
_PLEDGE_ID = re.compile(ids.PATTERN)


class TemporalGateway:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), timeout=CONNECT_TIMEOUT)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise unavailable("Temporal") from exc
        return self._client

    async def submit(self, submission: Submission, idempotency_key: str | None) -> str:
        """Start a pledge's workflow and return its id; the same ``Idempotency-Key`` always gives the same one."""
        client = await self.client()
        async with _reachable():
            for attempt in range(MAX_ID_ATTEMPTS):
                if idempotency_key is None:
                    pledge_id = ids.new_pledge_id()
                    try:
                        await self._start(client, pledge_id, submission, None)
                    except WorkflowAlreadyStartedError:
                        continue  # a random id collided: draw another
                    return pledge_id
                pledge_id = ids.pledge_id_for_key(idempotency_key, self._settings.signing_key(), attempt)
                # USE_EXISTING answers with whatever runs under this id, and a closed pledge under it refuses
                # a new start: either way the memo says whose it is, a retry of this key or (rarely) another
                # key whose id collided, in which case step to the next id.
                with suppress(WorkflowAlreadyStartedError):
                    await self._start(client, pledge_id, submission, idempotency_key)
                description = await client.get_workflow_handle(workflow_id(pledge_id)).describe()
                if await description.memo_value("idempotency_key", default="") == idempotency_key:
                    return pledge_id
        raise ProblemError(503, "could not allocate a pledge id; try again", headers={"Retry-After": "1"})

    async def _start(self, client: Client, pledge_id: str, submission: Submission, idempotency_key: str | None) -> None:
        await client.start_workflow(
            WORKFLOW_TYPE,
            StartInput(
                pledge_id=pledge_id,
                submission=submission,
                idempotency_key=idempotency_key,
                email_task_queue=self._settings.email_task_queue,
            ),
            id=workflow_id(pledge_id),
            task_queue=self._settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=(
                WorkflowIDConflictPolicy.USE_EXISTING if idempotency_key else WorkflowIDConflictPolicy.FAIL
            ),
            memo={"idempotency_key": idempotency_key or ""},
            static_summary=submission.title,
            search_attributes=initial_search_attributes(submission),
        )

    async def state(self, pledge_id: str) -> PledgeState:
        """The pledge's whole current state, from the workflow's query (404 for an unknown pledge)."""
        handle = await self._handle(pledge_id)
        async with _reachable(), _answered_within(ANSWER_TIMEOUT):
            try:
                state: PledgeState = await handle.query(QUERY_STATE, result_type=PledgeState)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise _unknown(pledge_id) from exc
                raise
            except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
                raise ProblemError(503, "the pledge's state cannot be read right now", headers=_RETRY) from exc
        return state

    async def update(self, pledge_id: str, name: str, argument: BaseModel) -> ActionResult:
        """Carry one action into the pledge's workflow; its validator's refusal becomes the status code."""
        handle = await self._handle(pledge_id)
        async with _reachable(), _answered_within(ANSWER_TIMEOUT):
            try:
                result: ActionResult = await handle.execute_update(name, argument, result_type=ActionResult)
            except WorkflowUpdateFailedError as exc:
                await self._refused(handle, exc.cause)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    await self._not_running(handle, pledge_id)
                raise
        return result

    async def _handle(self, pledge_id: str) -> WorkflowHandle[object, object]:
        if not _PLEDGE_ID.match(pledge_id):
            raise _unknown(pledge_id)
        client = await self.client()
        return client.get_workflow_handle(workflow_id(pledge_id))

    async def _refused(self, handle: WorkflowHandle[object, object], cause: BaseException) -> NoReturn:
        if isinstance(cause, ApplicationError) and cause.type in REFUSAL_STATUS:
            status = REFUSAL_STATUS[cause.type]
            if status == 409 and cause.details:
                raise ProblemError(status, cause.message, pledge_status=str(cause.details[0]))
            raise ProblemError(status, cause.message)
        # An update this pledge's workflow does not know (a pledge started by older code, for instance):
        # the action is not available to it now, which is a 409, never a server error.
        current = await self._status_of(handle)
        raise ProblemError(
            409, f"this action is not available while the pledge is {current}", pledge_status=current
        ) from cause

    async def _not_running(self, handle: WorkflowHandle[object, object], pledge_id: str) -> NoReturn:
        """An update found no running workflow: either the pledge never existed, or it has ended."""
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise _unknown(pledge_id) from exc
            raise
        closed = PledgeStatus.closed.value
        raise ProblemError(409, f"the pledge is {closed}; no further action is possible", pledge_status=closed)

    async def _status_of(self, handle: WorkflowHandle[object, object]) -> str:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return PledgeStatus.closed.value
        state: PledgeState = await handle.query(QUERY_STATE, result_type=PledgeState)
        return state.status.value


_RETRY = {"Retry-After": "5"}


def _unknown(pledge_id: str) -> ProblemError:
    return ProblemError(404, f"no pledge {pledge_id}")


@asynccontextmanager
async def _reachable() -> AsyncIterator[None]:
    """Temporal answering "unavailable" (or a dropped call) is a 503 with ``Retry-After``."""
    try:
        yield
    except RPCError as exc:
        if exc.status in _UNREACHABLE:
            raise unavailable("Temporal") from exc
        raise
    except RPCTimeoutOrCancelledError as exc:
        raise unavailable("Temporal") from exc


@asynccontextmanager
async def _answered_within(seconds: float) -> AsyncIterator[None]:
    """A worker must answer a query or update in time, else 503 (the SDK reports our own cancellation as
    its RPC-timeout error, so the deadline, not the exception type, says which case this is)."""
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            yield
    except (TimeoutError, RPCTimeoutOrCancelledError) as exc:
        if isinstance(exc, TimeoutError) or deadline.expired():
            raise ProblemError(
                503, "the pledge workers did not answer in time; try again shortly", headers=_RETRY
            ) from exc
        raise
