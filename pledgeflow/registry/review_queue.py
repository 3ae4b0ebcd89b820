"""The vetting staff's review queue: pledges in review, longest waiting first, read from the registry.

The JSON API (``GET /api/v1/review/queue``) and the staff's queue page both show exactly this.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlmodel import Session, col, select

from pledgeflow.core.models import Pledge
from workflows.state import PledgeStatus


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


def pledges_in_review(session: Session, limit: int) -> ReviewQueue:
    """At most ``limit`` pledges in review, the one waiting longest first (the projected review start)."""
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
