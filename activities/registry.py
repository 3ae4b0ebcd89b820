"""The registry projection: the pledge row, its search index rows, timeline events and reports."""

from __future__ import annotations

from sqlmodel import Session, col, delete, select
from temporalio import activity

from pledgeflow.db import session_for
from pledgeflow.models import Pledge, PledgeCountry, PledgeSDG, Report, TimelineEntry, utcnow
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


def _upsert_pledge(session: Session, projection: PledgeProjection) -> None:
    submission = projection.submission
    row = session.get(Pledge, projection.pledge_id) or Pledge(
        id=projection.pledge_id,
        submitted_at=projection.submitted_at,
        start_date=submission.start_date,
        submission={},
        title="",
        status="",
        pledge_type="",
        organization_name="",
        organization_type="",
        organization_country="",
        geographic_scope="",
        updated_at=utcnow(),
    )
    row.title = submission.title
    row.status = projection.status.value
    row.closure_reason = projection.closure_reason.value if projection.closure_reason else None
    row.pledge_type = submission.pledge_type.value
    row.organization_name = submission.organization.name
    row.organization_type = submission.organization.type.value
    row.organization_country = submission.organization.country
    row.geographic_scope = submission.geographic_scope.value
    row.financial_usd = submission.resources.financial_usd
    row.start_date = submission.start_date
    row.end_date = submission.end_date
    row.open_ended = submission.open_ended
    row.submission = submission.model_dump(mode="json")
    row.submission_version = projection.submission_version
    row.published_at = projection.published_at
    row.closure_note = projection.closure_note
    row.next_deadline = projection.next_deadline
    row.next_step = projection.next_step
    row.cycle = projection.cycle
    row.missed_cycles = projection.missed_cycles
    row.last_report_at = projection.last_report_at
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
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
                    actor=event.actor,
                    kind=event.kind,
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
