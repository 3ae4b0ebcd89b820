"""Staff endpoints: the review queue (read from the registry) and the decisions, extensions and closures
that go to the pledge's workflow as updates, signed with the staff member's name.

Vetters decide, operators extend (or refuse a pledger's request for more time) and close, admins do
both. POST to a collection (decisions, extensions, extension refusals) answers 201, POST to a single
thing (closure) 200.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.deps import Operator, SessionDep, TemporalDep, Vetter, no_nul_in_body, registry_reachable
from api.problems import responses
from pledgeflow.core.models import Pledge
from workflows.state import (
    UPDATE_CLOSE,
    UPDATE_DECIDE,
    UPDATE_GRANT_EXTENSION,
    UPDATE_REFUSE_EXTENSION,
    ActionResult,
    ClosureInput,
    Decision,
    DecisionInput,
    ExtensionGrantInput,
    ExtensionRefusalInput,
    PledgeStatus,
)

router = APIRouter(prefix="/api/v1", tags=["staff"], dependencies=[Depends(no_nul_in_body)])

_ACTION = responses(401, 403, 404, 409, 422, 503)


class ReviewQueueItem(BaseModel):
    id: str
    title: str
    organization: str
    organization_type: str
    country: str
    pledge_type: str
    financial_usd: float
    submission_version: int
    submitted_at: dt.datetime
    waiting_since: dt.datetime  # when the pledge (last) entered review: submission or revision
    next_deadline: dt.datetime | None
    next_step: str | None


class ReviewQueue(BaseModel):
    items: list[ReviewQueueItem]


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


@router.get("/review/queue", responses=responses(401, 403, 422, 503))
def review_queue(staff: Vetter, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ReviewQueue:
    """Pledges in review, longest waiting first."""
    with registry_reachable():
        pledges = session.exec(
            select(Pledge)
            .where(Pledge.status == PledgeStatus.in_review.value)
            .order_by(col(Pledge.review_started_at), col(Pledge.id))
            .limit(limit)
        ).all()
    return ReviewQueue(
        items=[
            ReviewQueueItem(
                id=pledge.id,
                title=pledge.title,
                organization=pledge.organization_name,
                organization_type=pledge.organization_type,
                country=pledge.organization_country,
                pledge_type=pledge.pledge_type,
                financial_usd=pledge.financial_usd,
                submission_version=pledge.submission_version,
                submitted_at=pledge.submitted_at,
                waiting_since=pledge.review_started_at,
                next_deadline=pledge.next_deadline,
                next_step=pledge.next_step,
            )
            for pledge in pledges
        ]
    )


@router.post("/pledges/{pledge_id}/decisions", status_code=201, responses=_ACTION)
async def decide(pledge_id: str, decision: DecisionRequest, staff: Vetter, gateway: TemporalDep) -> ActionResult:
    """Approve, reject or request changes (a note is required to reject or request changes)."""
    return await gateway.update(
        pledge_id, UPDATE_DECIDE, DecisionInput(decision=decision.decision, note=decision.note, staff=staff.name)
    )


@router.post("/pledges/{pledge_id}/extensions", status_code=201, responses=_ACTION)
async def grant_extension(
    pledge_id: str, extension: ExtensionRequest, staff: Operator, gateway: TemporalDep
) -> ActionResult:
    """Give the current reporting cycle more days (up to the policy's maximum)."""
    return await gateway.update(
        pledge_id,
        UPDATE_GRANT_EXTENSION,
        ExtensionGrantInput(days=extension.days, reason=extension.reason, staff=staff.name),
    )


@router.post("/pledges/{pledge_id}/extension-refusals", status_code=201, responses=_ACTION)
async def refuse_extension(
    pledge_id: str, refusal: ExtensionRefusal, staff: Operator, gateway: TemporalDep
) -> ActionResult:
    """Answer the pledger's waiting extension request with no, and why (the pledger is emailed)."""
    return await gateway.update(
        pledge_id, UPDATE_REFUSE_EXTENSION, ExtensionRefusalInput(reason=refusal.reason, staff=staff.name)
    )


@router.post("/pledges/{pledge_id}/closure", responses=_ACTION)
async def close(pledge_id: str, closure: ClosureRequest, staff: Operator, gateway: TemporalDep) -> ActionResult:
    """Close the pledge (removed), with the reason shown on its public page."""
    return await gateway.update(pledge_id, UPDATE_CLOSE, ClosureInput(reason=closure.reason, staff=staff.name))
