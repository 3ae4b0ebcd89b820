"""Staff endpoints: the review queue (read from the registry) and the decisions, extensions and closures
that go to the pledge's workflow as updates, signed with the staff member's name.

Vetters decide, operators extend (or refuse a pledger's request for more time) and close, admins do
both. POST to a collection (decisions, extensions, extension refusals) answers 201, POST to a single
thing (closure) 200.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.deps import (
    IdempotencyKey,
    Operator,
    SessionDep,
    SettingsDep,
    TemporalDep,
    Vetter,
    no_nul_in_body,
    registry_reachable,
    update_id,
)
from api.problems import responses
from pledgeflow.registry.review_queue import ReviewQueue, pledges_in_review
from workflows.state import (
    ActionResult,
    ClosureInput,
    Decision,
    DecisionInput,
    ExtensionGrantInput,
    ExtensionRefusalInput,
)

router = APIRouter(prefix="/api/v1", tags=["staff"], dependencies=[Depends(no_nul_in_body)])

_ACTION = responses(202, 401, 403, 404, 409, 413, 422, 429, 503)


class DecisionRequest(BaseModel):
    decision: Decision
    note: Annotated[str, Field(max_length=5000)] | None = None


class ExtensionRequest(BaseModel):
    days: Annotated[int, Field(ge=1)]
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class ClosureRequest(BaseModel):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


class ExtensionRefusal(BaseModel):
    reason: Annotated[str, Field(min_length=3, max_length=2000)]


@router.get("/review/queue", responses=responses(401, 403, 422, 429, 503))
def review_queue(
    staff: Vetter,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ReviewQueue:
    """Pledges in review, the most urgent first; ``total`` counts them all, ``offset`` skips the longest
    waiting (the next page starts at ``offset + limit`` while that is below ``total``)."""
    with registry_reachable():
        return pledges_in_review(session, limit, offset)


@router.post("/pledges/{pledge_id}/decisions", status_code=201, responses=_ACTION)
async def decide(
    pledge_id: str,
    decision: DecisionRequest,
    staff: Vetter,
    pledges: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Approve, reject or request changes (a note is required to reject or request changes)."""
    action = DecisionInput(decision=decision.decision, note=decision.note, staff=staff.name)
    return await pledges.decide(
        pledge_id, action, update_id(settings, idempotency_key, pledge_id, staff.name, "decide", action)
    )


@router.post("/pledges/{pledge_id}/extensions", status_code=201, responses=_ACTION)
async def grant_extension(
    pledge_id: str,
    extension: ExtensionRequest,
    staff: Operator,
    pledges: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Give the current reporting cycle more days (up to the policy's maximum)."""
    action = ExtensionGrantInput(days=extension.days, reason=extension.reason, staff=staff.name)
    key = update_id(settings, idempotency_key, pledge_id, staff.name, "grant_extension", action)
    return await pledges.grant_extension(pledge_id, action, key)


@router.post("/pledges/{pledge_id}/extension-refusals", status_code=201, responses=_ACTION)
async def refuse_extension(
    pledge_id: str,
    refusal: ExtensionRefusal,
    staff: Operator,
    pledges: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Answer the pledger's waiting extension request with no, and why (the pledger is emailed)."""
    action = ExtensionRefusalInput(reason=refusal.reason, staff=staff.name)
    key = update_id(settings, idempotency_key, pledge_id, staff.name, "refuse_extension", action)
    return await pledges.refuse_extension(pledge_id, action, key)


@router.post("/pledges/{pledge_id}/closure", responses=_ACTION)
async def close(
    pledge_id: str,
    closure: ClosureRequest,
    staff: Operator,
    pledges: TemporalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> ActionResult:
    """Close the pledge (removed), with the reason shown on its public page."""
    action = ClosureInput(reason=closure.reason, staff=staff.name)
    return await pledges.close(
        pledge_id, action, update_id(settings, idempotency_key, pledge_id, staff.name, "close", action)
    )
