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
from sqlmodel import Session, col, select

from api.deps import Operator, SessionDep, TemporalDep, Vetter, no_nul_in_body, registry_reachable
from api.problems import responses
from pledgeflow.core.models import Pledge, TimelineEntry
from workflows.state import (
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


def _waiting_since(session: Session, pledges: list[Pledge]) -> dict[str, dt.datetime]:
    """When each pledge's current stretch in review began: its first event after the last one outside review."""
    entries = session.exec(
        select(TimelineEntry)
        .where(col(TimelineEntry.pledge_id).in_([pledge.id for pledge in pledges]))
        .order_by(col(TimelineEntry.pledge_id), col(TimelineEntry.seq))
    )
    since: dict[str, dt.datetime] = {pledge.id: pledge.submitted_at for pledge in pledges}
    left_review: set[str] = set()
    for entry in entries:
        if entry.status != PledgeStatus.in_review.value:
            left_review.add(entry.pledge_id)
            since[entry.pledge_id] = entry.at
        elif entry.pledge_id in left_review:
            left_review.discard(entry.pledge_id)
            since[entry.pledge_id] = entry.at
    return {pledge_id: _aware(at) for pledge_id, at in since.items()}


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


@router.get("/review/queue", responses=responses(401, 403, 422, 503))
def review_queue(staff: Vetter, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> ReviewQueue:
    """Pledges in review, longest waiting first."""
    with registry_reachable():
        pledges = list(session.exec(select(Pledge).where(Pledge.status == PledgeStatus.in_review.value)))
        since = _waiting_since(session, pledges) if pledges else {}
    pledges.sort(key=lambda pledge: (since[pledge.id], pledge.id))
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
                submitted_at=_aware(pledge.submitted_at),
                waiting_since=since[pledge.id],
                next_deadline=_aware(pledge.next_deadline) if pledge.next_deadline else None,
                next_step=pledge.next_step,
            )
            for pledge in pledges[:limit]
        ]
    )


@router.post("/pledges/{pledge_id}/decisions", status_code=201, responses=_ACTION)
async def decide(pledge_id: str, decision: DecisionRequest, staff: Vetter, pledges: TemporalDep) -> ActionResult:
    """Approve, reject or request changes (a note is required to reject or request changes)."""
    return await pledges.decide(
        pledge_id, DecisionInput(decision=decision.decision, note=decision.note, staff=staff.name)
    )


@router.post("/pledges/{pledge_id}/extensions", status_code=201, responses=_ACTION)
async def grant_extension(
    pledge_id: str, extension: ExtensionRequest, staff: Operator, pledges: TemporalDep
) -> ActionResult:
    """Give the current reporting cycle more days (up to the policy's maximum)."""
    return await pledges.grant_extension(
        pledge_id, ExtensionGrantInput(days=extension.days, reason=extension.reason, staff=staff.name)
    )


@router.post("/pledges/{pledge_id}/extension-refusals", status_code=201, responses=_ACTION)
async def refuse_extension(
    pledge_id: str, refusal: ExtensionRefusal, staff: Operator, pledges: TemporalDep
) -> ActionResult:
    """Answer the pledger's waiting extension request with no, and why (the pledger is emailed)."""
    return await pledges.refuse_extension(pledge_id, ExtensionRefusalInput(reason=refusal.reason, staff=staff.name))


@router.post("/pledges/{pledge_id}/closure", responses=_ACTION)
async def close(pledge_id: str, closure: ClosureRequest, staff: Operator, pledges: TemporalDep) -> ActionResult:
    """Close the pledge (removed), with the reason shown on its public page."""
    return await pledges.close(pledge_id, ClosureInput(reason=closure.reason, staff=staff.name))
