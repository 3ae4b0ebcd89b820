"""The vetting staff's review queue: pledges in review, longest waiting first, read from the registry.

The JSON API (``GET /api/v1/review/queue``) and the staff's queue page both show exactly this.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel
from sqlmodel import Session, col, select

from pledgeflow.core.models import Pledge, TimelineEntry
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
    """At most ``limit`` pledges in review, the one waiting longest first."""
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
