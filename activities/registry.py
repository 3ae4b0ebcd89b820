"""The registry projection: the pledge row, its search index rows, timeline events and reports."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from pledgeflow.auth.revocation import NotInRegistry, revoke_tokens
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge, PledgeCountry, PledgeSDG, Report, TimelineEntry, utcnow
from workflows.projection import PledgeProjection


class RegistryActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @activity.defn
    def project_pledge(self, projection: PledgeProjection) -> None:
        """Upsert the pledge row and add the new timeline events and reports; safe to retry."""
        with session_for(self.database_url) as session:
            _upsert_pledge(session, projection)
            _add_events(session, projection)
            _add_reports(session, projection)
            session.commit()

    @activity.defn
    def revoke_tokens(self, pledge_id: str) -> int:
        """Raise the pledge's token version; a retry raises it again, which revokes no less. A pledge whose
        first projection is still on its way is not in the registry yet: retried until it is."""
        with session_for(self.database_url) as session:
            try:
                return revoke_tokens(session, pledge_id)
            except NotInRegistry as exc:
                raise ApplicationError(f"pledge {pledge_id} is not in the registry yet") from exc


def _row_values(projection: PledgeProjection) -> dict[str, Any]:
    """The pledge row's columns as the workflow's state has them now."""
    submission = projection.submission
    return {
        "title": submission.title,
        "status": projection.status.value,
        "closure_reason": projection.closure_reason.value if projection.closure_reason else None,
        "closure_note": projection.closure_note,
        "pledge_type": submission.pledge_type.value,
        "organization_name": submission.organization.name,
        "organization_type": submission.organization.type.value,
        "organization_country": submission.organization.country,
        "geographic_scope": submission.geographic_scope.value,
        "financial_usd": submission.resources.financial_usd,
        "start_date": submission.start_date,
        "end_date": submission.end_date,
        "open_ended": submission.open_ended,
        "submission": submission.model_dump(mode="json"),
        "submission_version": projection.submission_version,
        "review_started_at": projection.review_started_at,
        "published_at": projection.published_at,
        "next_deadline": projection.next_deadline,
        "next_step": projection.next_step,
        "cycle": projection.cycle,
        "missed_cycles": projection.missed_cycles,
        "last_report_at": projection.last_report_at,
        "updated_at": utcnow(),
    }


def _upsert_pledge(session: Session, projection: PledgeProjection) -> None:
    values = _row_values(projection)
    row = session.get(Pledge, projection.pledge_id)
    if projection.review_started_at is None:
        # Scheduled before projections carried it: a row keeps what migration 0002 gave it, and a new
        # pledge is in its first review round, which begins at submission.
        values["review_started_at"] = row.review_started_at if row is not None else projection.submitted_at
    # The search index rows change only with the submission (a revision), not with each transition.
    index_changed = row is None or row.submission != values["submission"]
    if row is None:
        row = Pledge(id=projection.pledge_id, submitted_at=projection.submitted_at, **values)
    else:
        for column, value in values.items():
            setattr(row, column, value)
    session.add(row)
    if not index_changed:
        return
    session.flush()
    submission = projection.submission
    session.execute(delete(PledgeSDG).where(col(PledgeSDG.pledge_id) == row.id))
    session.execute(delete(PledgeCountry).where(col(PledgeCountry.pledge_id) == row.id))
    session.add_all(PledgeSDG(pledge_id=row.id, sdg=sdg) for sdg in submission.sdgs)
    session.add_all(PledgeCountry(pledge_id=row.id, country=code) for code in sorted(set(submission.countries)))


def _add_events(session: Session, projection: PledgeProjection) -> None:
    if not projection.events:
        return
    known = set(
        session.exec(
            select(TimelineEntry.seq).where(
                TimelineEntry.pledge_id == projection.pledge_id,
                TimelineEntry.seq >= min(event.seq for event in projection.events),
            )
        )
    )
    for event in projection.events:
        if event.seq not in known:
            session.add(
                TimelineEntry(
                    pledge_id=projection.pledge_id,
                    seq=event.seq,
                    at=event.at,
                    actor=event.registry_actor,
                    kind=event.kind.value,
                    message=event.message,
                    status=event.status.value,
                    public=event.public,
                )
            )


def _add_reports(session: Session, projection: PledgeProjection) -> None:
    for record in projection.reports:
        exists = session.exec(
            select(Report.id).where(
                Report.pledge_id == projection.pledge_id,
                Report.cycle == record.cycle,
                Report.received_at == record.received_at,
            )
        ).first()
        if exists is None:
            session.add(
                Report(
                    pledge_id=projection.pledge_id,
                    cycle=record.cycle,
                    received_at=record.received_at,
                    source=record.source,
                    final=record.final,
                    progress=record.report.progress.value,
                    narrative=record.report.narrative,
                    details=record.report.model_dump(mode="json", exclude={"progress", "narrative"}),
                )
            )
