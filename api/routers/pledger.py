"""The pledger's endpoints: submit, then manage one pledge with its bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import PledgeToken, SettingsDep, TemporalDep
from api.problems import ProblemError, responses, unavailable
from pledgeflow import ids, temporal
from pledgeflow.settings import Settings
from pledgeflow.tokens import Purpose, TokenClaims, issue
from workflows.state import QUERY_STATE, WORKFLOW_TYPE, PledgeState, PledgeStatus, StartInput, workflow_id
from workflows.submission import Submission

router = APIRouter(prefix="/api/v1/pledges", tags=["pledger"])

MAX_ID_ATTEMPTS = 8


class SubmissionAccepted(BaseModel):
    id: str
    status: PledgeStatus
    manage_token: str
    links: dict[str, str]


def _accepted(settings: Settings, pledge_id: str, status: PledgeStatus) -> SubmissionAccepted:
    base = settings.public_base_url.rstrip("/")
    token = issue(settings.signing_key(), TokenClaims(pledge_id, Purpose.manage, 1))
    return SubmissionAccepted(
        id=pledge_id,
        status=status,
        manage_token=token,
        links={"self": f"{base}/api/v1/pledges/{pledge_id}", "public": f"{base}/registry/{pledge_id}"},
    )


async def _start(
    client: Client, settings: Settings, pledge_id: str, submission: Submission, idempotency_key: str | None
) -> None:
    await client.start_workflow(
        WORKFLOW_TYPE,
        StartInput(
            pledge_id=pledge_id,
            submission=submission,
            idempotency_key=idempotency_key,
            email_task_queue=settings.email_task_queue,
        ),
        id=workflow_id(pledge_id),
        task_queue=settings.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=(
            WorkflowIDConflictPolicy.USE_EXISTING if idempotency_key else WorkflowIDConflictPolicy.FAIL
        ),
        memo={"idempotency_key": idempotency_key or ""},
        static_summary=submission.title,
        search_attributes=temporal.initial_search_attributes(submission),
    )


async def _existing_key(client: Client, pledge_id: str) -> str:
    description = await client.get_workflow_handle(workflow_id(pledge_id)).describe()
    return str(await description.memo_value("idempotency_key", default=""))


@router.post("", status_code=202, responses=responses(422, 503))
async def submit_pledge(
    submission: Submission,
    client: TemporalDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)] = None,
) -> SubmissionAccepted:
    """Start the pledge's workflow; the same ``Idempotency-Key`` always answers with the same pledge."""
    try:
        for attempt in range(MAX_ID_ATTEMPTS):
            pledge_id = (
                ids.pledge_id_for_key(idempotency_key, settings.signing_key(), attempt)
                if idempotency_key
                else ids.new_pledge_id()
            )
            try:
                await _start(client, settings, pledge_id, submission, idempotency_key)
            except WorkflowAlreadyStartedError:
                if not idempotency_key:
                    continue  # a random id collided: draw another
            # With an idempotency key the id may belong to this key (a retry) or, rarely, to another key.
            if idempotency_key and await _existing_key(client, pledge_id) != idempotency_key:
                continue
            return _accepted(settings, pledge_id, PledgeStatus.in_review)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise unavailable("Temporal") from exc
        raise
    raise ProblemError(503, "could not allocate a pledge id; try again", headers={"Retry-After": "1"})


@router.get("/{pledge_id}", responses=responses(401, 403, 404, 503))
async def get_pledge(pledge_id: str, claims: PledgeToken, client: TemporalDep) -> PledgeState:
    """The full pledge for its owner: state, contacts, timeline and next deadline."""
    handle = client.get_workflow_handle(workflow_id(claims.pledge_id))
    try:
        state: PledgeState = await handle.query(QUERY_STATE, result_type=PledgeState)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ProblemError(404, f"no pledge {pledge_id}") from exc
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            raise unavailable("Temporal") from exc
        raise
    return state
