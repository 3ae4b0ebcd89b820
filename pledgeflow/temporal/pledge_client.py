"""The one typed client of a pledge's workflow: start it, read its state, carry each action in.

The API, the pages, ``pledgeflow ops``, the inbound receiver and the tests all go through
:class:`PledgeClient`, so what Temporal answers means the same everywhere. Each meaning is one exception:

- :class:`ActionRefused`: an update's validator said no (its :class:`Refusal` says why), or the pledge's
  workflow does not know the action at all (a pledge started by older code): not allowed now.
- :class:`PledgeNotFound`: no pledge has this id. :class:`PledgeClosed`: an action reached a pledge whose
  workflow has ended.
- :class:`TemporalUnavailable`: the server is unreachable. :class:`WorkersNotAnswering`: no worker took the
  call in time (an action was not accepted: nothing is applied yet). :class:`WorkflowTaskFailing`: the
  pledge's workflow task is failing and being retried. :class:`StateUnreadable`: a worker answered the
  query with a failure. :class:`NoPledgeIdLeft`: every id a submission may take is taken.
- :class:`ActionPending`: the workflow accepted the action but its answer did not come in time; it will be
  applied, and a retry with the same update id attaches to it.
- :class:`PayloadTooLarge`: the submission or action is too large for a workflow's history.
  :class:`IdempotencyKeyReused`: a submission's Idempotency-Key came with another body.

Every action is an update with an id: the caller's (derived from its Idempotency-Key, see
pledgeflow.auth.idempotency) or a fresh one. The client waits first for the workflow to accept the update,
then for its result, each with its own deadline, so "not accepted" (503, nothing happened) and "accepted,
answer pending" (202, it will happen once) are never confused.

Handlers are named by method reference (``PledgeWorkflow.decide``), so renaming one is a type error here.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager, suppress
from enum import StrEnum
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowQueryRejectedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from pledgeflow.core import ids
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.connection import connect
from workflows.pledge import PledgeWorkflow
from workflows.search_attributes import initial_search_attributes
from workflows.state import (
    REFUSED_FORBIDDEN,
    REFUSED_INVALID,
    REFUSED_NOT_ALLOWED,
    REFUSED_STALE,
    ActionResult,
    ClosureInput,
    DecisionInput,
    EmailReply,
    ExtensionGrantInput,
    ExtensionRefusalInput,
    ExtensionRequestInput,
    ImportedPledge,
    LinksRenewalInput,
    PledgeState,
    PledgeStatus,
    ReportInput,
    ResendInput,
    RevisionInput,
    StartInput,
    StopRemindersInput,
    WithdrawalInput,
    workflow_id,
)
from workflows.submission import Submission

CONNECT_TIMEOUT = 5.0
# A query, or an update's acceptance, needs a worker to answer; without one the server would hold the call
# for a minute.
ANSWER_TIMEOUT = 15.0
# Once accepted, how long to wait for the action's answer before saying it is accepted and pending.
RESULT_TIMEOUT = 15.0
MAX_ID_ATTEMPTS = 8
# The memo key naming the import key an imported pledge was started for; its id is derived from the key under a
# prefix of its own, so no Idempotency-Key sent to the API can claim an imported pledge's id.
IMPORT_MEMO = "import_key"
IMPORT_ID_PREFIX = "import:"
# Temporal warns above 512 KiB and refuses above 2 MiB per payload (and 4 MiB per gRPC message); a
# pledge's input stays far below, so anything larger is refused here before it reaches a history.
MAX_PAYLOAD_BYTES = 512 * 1024

_UNREACHABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED)
_PLEDGE_ID = re.compile(ids.PATTERN)
Action = TypeVar("Action", bound=BaseModel)
# One of the workflow's update handlers taking an ``Action``. The SDK types a named ``async def`` update as
# answering its coroutine; what arrives is the handler's result, an ActionResult.
Update = UpdateMethodMultiParam[[PledgeWorkflow, Action], Coroutine[Any, Any, ActionResult]]


class Refusal(StrEnum):
    """Why an update's validator refused; the values are the ``ApplicationError`` types it raises."""

    not_allowed = REFUSED_NOT_ALLOWED  # not in the pledge's current status
    stale = REFUSED_STALE  # a revision of an older submission version
    invalid = REFUSED_INVALID  # e.g. a rejection without a note, an extension over the maximum
    forbidden = REFUSED_FORBIDDEN  # e.g. a second approval by the same staff member


_REFUSALS = {refusal.value for refusal in Refusal}


class PledgeError(Exception):
    """Anything a call on a pledge's workflow can meet; each subclass is one meaning, its text for people."""


class ActionRefused(PledgeError):
    def __init__(self, reason: Refusal, message: str, pledge_status: str | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.pledge_status = pledge_status  # the status the validator saw, when it said


class PledgeNotFound(PledgeError):
    def __init__(self, pledge_id: str) -> None:
        super().__init__(f"no pledge {pledge_id}")
        self.pledge_id = pledge_id


class PledgeClosed(PledgeError):
    def __init__(self, pledge_id: str) -> None:
        super().__init__(f"the pledge is {PledgeStatus.closed.value}; no further action is possible")
        self.pledge_id = pledge_id


class TemporalUnavailable(PledgeError):
    def __init__(self) -> None:
        super().__init__("Temporal is unreachable; try again shortly")


class WorkersNotAnswering(PledgeError):
    def __init__(self) -> None:
        super().__init__("the pledge workers did not answer in time, so nothing was applied; try again shortly")


class StateUnreadable(PledgeError):
    def __init__(self) -> None:
        super().__init__("the pledge's state cannot be read right now")


class NoPledgeIdLeft(PledgeError):
    def __init__(self) -> None:
        super().__init__("could not allocate a pledge id; try again")


class WorkflowTaskFailing(PledgeError):
    def __init__(self) -> None:
        super().__init__("the pledge's workflow is recovering from an error and cannot answer now; try again shortly")


class ActionPending(PledgeError):
    def __init__(self, update_id: str) -> None:
        super().__init__(
            "the action was accepted and is being applied; send the same request again (same Idempotency-Key) "
            "for its result"
        )
        self.update_id = update_id


class PayloadTooLarge(PledgeError):
    def __init__(self, size: int | None = None) -> None:
        measured = f" ({size:,} bytes)" if size is not None else ""
        super().__init__(f"the request is too large to keep in the pledge's history{measured}")


class IdempotencyKeyReused(PledgeError):
    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was used for a submission with another body; use a new key")


def submission_fingerprint(submission: Submission) -> str:
    """What a submission's Idempotency-Key is bound to: the same key with another body is not a retry."""
    return hashlib.sha256(submission.model_dump_json().encode()).hexdigest()


class PledgeClient:
    """Without a connected ``client`` it connects on first use, so a process starts (and says Temporal is
    unavailable) while the server is down, and checks credentials and input before it needs Temporal."""

    max_payload_bytes = MAX_PAYLOAD_BYTES

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def temporal(self) -> Client:
        """The SDK client, for what is not one pledge's business (health checks, visibility lists)."""
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), timeout=CONNECT_TIMEOUT)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise TemporalUnavailable from exc
        return self._client

    # --- starting a pledge ------------------------------------------------------------------------

    async def start(self, submission: Submission, idempotency_key: str | None = None) -> str:
        """Start a pledge's workflow and return its id; the same ``idempotency_key`` with the same submission
        always gives the same one, and with another submission is refused (:class:`IdempotencyKeyReused`)."""
        client = await self.temporal()
        await self._refuse_if_too_large(client, submission)
        fingerprint = submission_fingerprint(submission)
        async with _answered_within(None):
            for attempt in range(MAX_ID_ATTEMPTS):
                if idempotency_key is None:
                    pledge_id = ids.new_pledge_id()
                    try:
                        await self._start(client, self._new(pledge_id, submission), {"idempotency_key": ""})
                    except WorkflowAlreadyStartedError:
                        continue  # a random id collided: draw another
                    return pledge_id
                pledge_id = ids.pledge_id_for_key(idempotency_key, self._settings.signing_key(), attempt)
                # USE_EXISTING answers with whatever runs under this id, and a closed pledge under it refuses
                # a new start: either way the memo says whose it is, a retry of this key or (rarely) another
                # key whose id collided, in which case step to the next id.
                with suppress(WorkflowAlreadyStartedError):
                    start = self._new(pledge_id, submission, idempotency_key=idempotency_key)
                    memo = {"idempotency_key": idempotency_key, "submission_fingerprint": fingerprint}
                    await self._start(client, start, memo, WorkflowIDConflictPolicy.USE_EXISTING)
                if await self._memo_of(client, pledge_id, "idempotency_key") == idempotency_key:
                    # Pledges started before the fingerprint was kept have none: a retry cannot be told apart.
                    kept = await self._memo_of(client, pledge_id, "submission_fingerprint")
                    if kept and kept != fingerprint:
                        raise IdempotencyKeyReused
                    return pledge_id
        raise NoPledgeIdLeft

    async def start_imported(self, submission: Submission, imported: ImportedPledge) -> tuple[str, bool]:
        """Start the workflow of a pledge from an earlier registry, placed on its ladder (docs/import.md), or find
        the one an earlier import of the same ``imported.key`` started: its id, and whether it is new."""
        client = await self.temporal()
        await self._refuse_if_too_large(client, submission)
        async with _answered_within(None):
            for attempt in range(MAX_ID_ATTEMPTS):
                key = IMPORT_ID_PREFIX + imported.key
                pledge_id = ids.pledge_id_for_key(key, self._settings.signing_key(), attempt)
                try:
                    await self._start(client, self._new(pledge_id, submission, imported=imported), {IMPORT_MEMO: key})
                except WorkflowAlreadyStartedError:
                    # Running or closed: ours if the memo names the same key, else an id collision: the next id.
                    if await self._memo_of(client, pledge_id, IMPORT_MEMO) == key:
                        return pledge_id, False
                    continue
                return pledge_id, True
        raise NoPledgeIdLeft

    def _new(self, pledge_id: str, submission: Submission, **start: Any) -> StartInput:
        return StartInput(
            pledge_id=pledge_id, submission=submission, email_task_queue=self._settings.email_task_queue, **start
        )

    async def _start(
        self,
        client: Client,
        start: StartInput,
        memo: dict[str, str],
        conflict: WorkflowIDConflictPolicy = WorkflowIDConflictPolicy.FAIL,
    ) -> None:
        assert start.submission is not None
        await client.start_workflow(
            PledgeWorkflow.run,
            start,
            id=workflow_id(start.pledge_id),
            task_queue=self._settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=conflict,
            memo=memo,
            static_summary=start.submission.title,
            search_attributes=initial_search_attributes(start.submission),
        )

    async def _memo_of(self, client: Client, pledge_id: str, key: str) -> str:
        description = await client.get_workflow_handle(workflow_id(pledge_id)).describe()
        return str(await description.memo_value(key, default=""))

    # --- reading it -------------------------------------------------------------------------------

    async def state(self, pledge_id: str) -> PledgeState:
        """The pledge's whole current state, from its workflow's query (also once the workflow has ended)."""
        handle = await self._handle(pledge_id)
        async with _answered_within(ANSWER_TIMEOUT):
            try:
                return await handle.query(PledgeWorkflow.query_state)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise PledgeNotFound(pledge_id) from exc
                raise
            except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
                raise StateUnreadable from exc

    # --- what people do: one update each, checked by its validator --------------------------------

    async def decide(self, pledge_id: str, decision: DecisionInput, update_id: str | None = None) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.decide, decision, update_id)

    async def revise(self, pledge_id: str, revision: RevisionInput, update_id: str | None = None) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.revise, revision, update_id)

    async def report(self, pledge_id: str, report: ReportInput, update_id: str | None = None) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.submit_report, report, update_id)

    async def request_extension(
        self, pledge_id: str, request: ExtensionRequestInput, update_id: str | None = None
    ) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.request_extension, request, update_id)

    async def grant_extension(
        self, pledge_id: str, grant: ExtensionGrantInput, update_id: str | None = None
    ) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.grant_extension, grant, update_id)

    async def refuse_extension(
        self, pledge_id: str, refusal: ExtensionRefusalInput, update_id: str | None = None
    ) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.refuse_extension, refusal, update_id)

    async def withdraw(self, pledge_id: str, withdrawal: WithdrawalInput, update_id: str | None = None) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.withdraw, withdrawal, update_id)

    async def close(self, pledge_id: str, closure: ClosureInput, update_id: str | None = None) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.close, closure, update_id)

    async def renew_links(
        self, pledge_id: str, renewal: LinksRenewalInput, update_id: str | None = None
    ) -> ActionResult:
        """Revoke every earlier link of the pledge and email the pledger a fresh one."""
        return await self._update(pledge_id, PledgeWorkflow.renew_links, renewal, update_id)

    async def resend_email(self, pledge_id: str, resend: ResendInput, update_id: str | None = None) -> ActionResult:
        return await self._update(pledge_id, PledgeWorkflow.resend_email, resend, update_id)

    async def stop_reminders(
        self, pledge_id: str, stop: StopRemindersInput, update_id: str | None = None
    ) -> ActionResult:
        """A contact's one-click unsubscribe: no more reminders to that address; the pledge goes on."""
        return await self._update(pledge_id, PledgeWorkflow.stop_reminders, stop, update_id)

    async def reply(self, pledge_id: str, reply: EmailReply) -> None:
        """A pledger's reply by email: a signal, so nothing waits for a worker (the workflow judges it)."""
        handle = await self._handle(pledge_id)
        async with _answered_within(None):
            try:
                await handle.signal(PledgeWorkflow.email_reply, reply)
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise await self._not_running(handle, pledge_id) from exc
                raise

    async def _update(
        self, pledge_id: str, update: Update[Action], argument: Action, update_id: str | None
    ) -> ActionResult:
        handle = await self._handle(pledge_id)
        await self._refuse_if_too_large(await self.temporal(), argument)
        update_id = update_id or f"request-{uuid.uuid4()}"
        # Not accepted in time: nothing is applied yet (503), and a retry with this id attaches to the same
        # update should a worker take it later, so it is applied once.
        async with _answered_within(ANSWER_TIMEOUT):
            try:
                started = await handle.start_update(
                    update, argument, id=update_id, wait_for_stage=WorkflowUpdateStage.ACCEPTED
                )
            except WorkflowUpdateFailedError as exc:
                raise await self._refusal(handle, exc.cause) from exc
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    raise await self._not_running(handle, pledge_id) from exc
                raise
        return await self._result_of(handle, started, update_id)

    async def _result_of(
        self,
        handle: WorkflowHandle[PledgeWorkflow, PledgeState],
        started: WorkflowUpdateHandle[Any],
        update_id: str,
    ) -> ActionResult:
        """The accepted action's answer; accepted means it will be applied, so a late answer is pending, never
        "unavailable"."""
        try:
            async with asyncio.timeout(RESULT_TIMEOUT):
                return cast(ActionResult, await started.result())
        except WorkflowUpdateFailedError as exc:
            # Refused after acceptance: the handler's own check found the pledge moved on meanwhile.
            async with _answered_within(ANSWER_TIMEOUT):
                raise await self._refusal(handle, exc.cause) from exc
        except (TimeoutError, RPCTimeoutOrCancelledError, RPCError) as exc:
            raise ActionPending(update_id) from exc

    async def _refuse_if_too_large(self, client: Client, value: BaseModel) -> None:
        payloads = await client.data_converter.encode([value])
        size = sum(payload.ByteSize() for payload in payloads)
        if size > self.max_payload_bytes:
            raise PayloadTooLarge(size)

    async def _handle(self, pledge_id: str) -> WorkflowHandle[PledgeWorkflow, PledgeState]:
        if not _PLEDGE_ID.match(pledge_id):
            raise PledgeNotFound(pledge_id)  # never sent on to Temporal as a workflow id
        client = await self.temporal()
        return client.get_workflow_handle_for(PledgeWorkflow.run, workflow_id(pledge_id))

    async def _refusal(
        self, handle: WorkflowHandle[PledgeWorkflow, PledgeState], cause: BaseException
    ) -> ActionRefused:
        if isinstance(cause, ApplicationError) and cause.type in _REFUSALS:
            # The validator's first detail is the status it saw.
            status = str(cause.details[0]) if cause.details else None
            return ActionRefused(Refusal(cause.type), cause.message, status)
        # An update this pledge's workflow does not know (a pledge started by older code, for instance):
        # the action is not available to it now, never a server error.
        current = await self._status_of(handle)
        return ActionRefused(
            Refusal.not_allowed, f"this action is not available while the pledge is {current}", current
        )

    async def _not_running(self, handle: WorkflowHandle[PledgeWorkflow, PledgeState], pledge_id: str) -> PledgeError:
        """No running workflow took the call: either the pledge never existed, or it has ended."""
        try:
            await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return PledgeNotFound(pledge_id)
            raise
        return PledgeClosed(pledge_id)

    async def _status_of(self, handle: WorkflowHandle[PledgeWorkflow, PledgeState]) -> str:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return PledgeStatus.closed.value
        state = await handle.query(PledgeWorkflow.query_state)
        return state.status.value


@asynccontextmanager
async def _answered_within(seconds: float | None) -> AsyncIterator[None]:
    """Temporal answering "unavailable" (or a dropped call) is :class:`TemporalUnavailable`; a call that
    needs a worker and gets no answer within ``seconds`` is :class:`WorkersNotAnswering`.

    The SDK reports our own cancellation as its RPC-timeout error, so the deadline, not the exception
    type, says which of the two a timeout is.
    """
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            yield
    except RPCError as exc:
        raise _meaning_of(exc) from exc
    except (TimeoutError, RPCTimeoutOrCancelledError) as exc:
        if seconds is not None and (isinstance(exc, TimeoutError) or deadline.expired()):
            raise WorkersNotAnswering from exc
        if isinstance(exc, RPCTimeoutOrCancelledError):
            raise TemporalUnavailable from exc
        raise


def _meaning_of(error: RPCError) -> PledgeError | RPCError:
    """What a server's refusal means for the caller; an RPCError left as it is, is a bug to see."""
    if _too_large(error):
        return PayloadTooLarge()
    if error.status == RPCStatusCode.FAILED_PRECONDITION:
        return WorkflowTaskFailing()  # "workflow task in failed state": retried by the server until it passes
    if error.status in _UNREACHABLE:
        return TemporalUnavailable()
    return error


def _too_large(error: RPCError) -> bool:
    message = error.message.lower()
    if error.status == RPCStatusCode.INVALID_ARGUMENT:
        return "size exceeds limit" in message or "payloadstoolarge" in message or "too large" in message
    # gRPC's own limit on a message, as the server answers it: not an outage.
    return error.status == RPCStatusCode.RESOURCE_EXHAUSTED and "larger than max" in message
