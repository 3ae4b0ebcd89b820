"""The vetting staff's review queue: pledges in review, the most urgent first, read from the registry.

Urgent means the ladder has already chased it: escalated to the vetting lead first, then those whose
reminder to the vetting team went out (docs/lifecycle.md §2), then the rest; longest waiting first within
each. Both flags come from the pledge's timeline since its current review round began. The JSON API
(``GET /api/v1/review/queue``) and the staff's queue page both show exactly this.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from pledgeflow.core.models import Pledge, TimelineEntry
from workflows.state import EventKind, PledgeStatus


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
    review_overdue: bool = False  # the vetting team was reminded in this review round
    review_escalated: bool = False  # the vetting lead was told in this review round


class ReviewQueue(BaseModel):
    items: list[ReviewQueueItem]
    total: int  # pledges in review, all of them: more than ``items`` when the queue runs past the page
    offset: int = 0  # how many pledges, in waiting order, come before ``items``


def _chased(session: Session, pledges: list[Pledge]) -> dict[tuple[str, str], bool]:
    """Which of the pledges were reminded or escalated since their current review round began."""
    started = {pledge.id: pledge.review_started_at for pledge in pledges}
    kinds = (EventKind.review_overdue.value, EventKind.review_escalated.value)
    rows = session.exec(
        select(TimelineEntry.pledge_id, TimelineEntry.kind, TimelineEntry.at).where(
            col(TimelineEntry.pledge_id).in_(list(started)), col(TimelineEntry.kind).in_(kinds)
        )
    ).all()
    return {(pledge_id, kind): True for pledge_id, kind, at in rows if at >= started[pledge_id]}


def pledges_in_review(session: Session, limit: int, offset: int = 0) -> ReviewQueue:
    """At most ``limit`` pledges in review after the ``offset`` longest waiting, the most urgent first:
    escalated, then reminded, then the rest, each the one waiting longest first (the projected review start).

    Pages follow the waiting order and urgency sorts within each page. The ladder chases a pledge by how
    long it has waited, so the chased ones are the longest waiting and come on the first pages."""
    in_review = Pledge.status == PledgeStatus.in_review.value
    pledges = list(
        session.exec(
            select(Pledge)
            .where(in_review)
            .order_by(col(Pledge.review_started_at), col(Pledge.id))
            .offset(offset)
            .limit(limit)
        ).all()
    )
    total = session.exec(select(func.count()).select_from(Pledge).where(in_review)).one()
    chased = _chased(session, pledges)
    items = [
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
            review_overdue=(pledge.id, EventKind.review_overdue.value) in chased,
            review_escalated=(pledge.id, EventKind.review_escalated.value) in chased,
        )
        for pledge in pledges
    ]
    items.sort(key=lambda item: (not item.review_escalated, not item.review_overdue))  # stable: waiting order kept
    return ReviewQueue(items=items, total=total, offset=offset)
