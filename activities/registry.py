"""The registry projection: the pledge row with its export records, its search index rows, timeline events
and reports.

:func:`write_projections` is the one write path, for one pledge (the activity) or many at once (the bulk
seeding of pledgeflow/registry/seeding.py): a batch costs a fixed number of statements, not some per pledge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert, tuple_
from sqlmodel import Session, SQLModel, col, delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from pledgeflow.auth.revocation import NotInRegistry, revoke_tokens
from pledgeflow.core.db import session_for
from pledgeflow.core.models import (
    Pledge,
    PledgeCountry,
    PledgeDocument,
    PledgeRegion,
    PledgeSDG,
    Report,
    TimelineEntry,
    utcnow,
)
from pledgeflow.registry import facets, kept_counts
from pledgeflow.registry.records import public_records
from workflows.projection import PledgeProjection

# A cancelled threaded activity (the worker shutting down, the workflow moving on) would be stopped by an
# exception the SDK raises in its thread, wherever that lands: inside the database driver mid-statement it
# hands a connection still busy with its statement back to the pool, and the next checkout fails ("can't
# change 'autocommit' now: connection in transaction status ACTIVE"). These activities are short and safe
# to retry, so they finish what they began instead.
UNINTERRUPTED = activity.defn(no_thread_cancel_exception=True)


class RegistryActivities:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    @UNINTERRUPTED
    def project_pledge(self, projection: PledgeProjection) -> None:
        """Upsert the pledge row and add the new timeline events and reports; safe to retry."""
        with session_for(self.database_url) as session:
            write_projections(session, [projection])
            session.commit()

    @UNINTERRUPTED
    def revoke_tokens(self, pledge_id: str) -> int:
        """Raise the pledge's token version; a retry raises it again, which revokes no less. A pledge whose
        first projection is still on its way is not in the registry yet: retried until it is."""
        with session_for(self.database_url) as session:
            try:
                return revoke_tokens(session, pledge_id)
            except NotInRegistry as exc:
                raise ApplicationError(f"pledge {pledge_id} is not in the registry yet") from exc


def _insert(session: Session, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """A multi-row INSERT on the table itself: the ORM's per-object bookkeeping costs more than the write."""
    if rows:
        table: Table = model.__table__  # type: ignore[attr-defined]
        session.execute(insert(table), rows)


def write_projections(session: Session, projections: Sequence[PledgeProjection]) -> None:
    """Upsert the pledges' rows (with their export records), their index rows and search text, and add their
    new events and reports.

    Idempotent, like the activity that calls it; the caller commits. At most one projection per pledge.
    New rows go in as one multi-row INSERT per table, so a batch costs a fixed number of statements.
    """
    ids = [projection.pledge_id for projection in projections]
    if len(set(ids)) != len(ids):
        raise ValueError("one projection per pledge in a batch")
    kept_counts.serialize_writers(session)  # before the read: another attempt of one projection may be writing
    rows = {row.id: row for row in session.exec(select(Pledge).where(col(Pledge.id).in_(ids)))}
    # An attempt run late (see PledgeProjection.number) adds its events and reports, never its older row.
    current = [projection for projection in projections if not _older(projection, rows.get(projection.pledge_id))]
    new = [_with_records(_new_row(projection)) for projection in current if projection.pledge_id not in rows]
    _insert(session, Pledge, new)
    reindexed = [
        projection
        for projection in current
        if projection.pledge_id not in rows or _update_pledge(session, rows[projection.pledge_id], projection)
    ]
    session.flush()
    _reindex(session, reindexed)
    _add_events(session, projections)
    _add_reports(session, projections)
    facets.refresh_reported_last_due(session, ids)


def _older(projection: PledgeProjection, row: Pledge | None) -> bool:
    """The row has the values of a newer projection than this one."""
    if row is None or row.projection_number is None or projection.number is None:
        return False
    return projection.number < row.projection_number


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
        "time_frame": facets.time_frame(submission.start_date, submission.end_date, submission.open_ended).value,
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


def _new_row(projection: PledgeProjection) -> dict[str, Any]:
    values = _row_values(projection)
    # Scheduled before projections carried it: a new pledge is in its first review round, begun at submission.
    values["review_started_at"] = projection.review_started_at or projection.submitted_at
    new = {
        "id": projection.pledge_id,
        "submitted_at": projection.submitted_at,
        "token_version": 1,
        "projection_number": projection.number,
    }
    return {**new, "reported_last_due": False, **values}


def _with_records(values: dict[str, Any]) -> dict[str, Any]:
    """A new row's values with its export records (pledgeflow/registry/records.py)."""
    public_json, public_csv = public_records(Pledge(**values))
    return {**values, "public_json": public_json, "public_csv": public_csv}


def _update_pledge(session: Session, row: Pledge, projection: PledgeProjection) -> bool:
    """Write the pledge row's new values; True when its index rows must be written again."""
    values = _row_values(projection)
    if projection.review_started_at is None:
        # Scheduled before projections carried it: the row keeps what migration 0002 gave it.
        values["review_started_at"] = row.review_started_at
    # The index rows change only with the submission (a revision) and the publication (their sort key),
    # not with each transition.
    index_changed = bool(row.submission != values["submission"] or row.published_at != values["published_at"])
    for column, value in values.items():
        setattr(row, column, value)
    if projection.number is not None:  # not older than the row's (write_projections); None: a worker from before
        row.projection_number = projection.number
    row.public_json, row.public_csv = public_records(row)
    session.add(row)
    return index_changed


def _reindex(session: Session, projections: Sequence[PledgeProjection]) -> None:
    if not projections:
        return
    ids = [projection.pledge_id for projection in projections]
    for table in (PledgeSDG, PledgeCountry, PledgeRegion, PledgeDocument):
        session.execute(delete(table).where(col(table.pledge_id).in_(ids)))
    sdgs: list[dict[str, Any]] = []
    countries: list[dict[str, Any]] = []
    regions: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    for projection in projections:
        submission = projection.submission
        sorted_key = {"pledge_id": projection.pledge_id, "published_at": projection.published_at}
        sdgs += [{**sorted_key, "sdg": sdg} for sdg in sorted(set(submission.sdgs))]
        countries += [{**sorted_key, "country": code} for code in sorted(set(submission.countries))]
        regions += [{**sorted_key, "region": region} for region in sorted(set(submission.regions))]
        documents.append({**sorted_key, "document": facets.document(submission)})
    for table, values in ((PledgeSDG, sdgs), (PledgeCountry, countries), (PledgeRegion, regions)):
        _insert(session, table, values)
    _insert(session, PledgeDocument, documents)


def _add_events(session: Session, projections: Sequence[PledgeProjection]) -> None:
    wanted = [(projection.pledge_id, event) for projection in projections for event in projection.events]
    if not wanted:
        return
    keys = [(pledge_id, event.seq) for pledge_id, event in wanted]
    known = set(
        session.exec(
            select(TimelineEntry.pledge_id, TimelineEntry.seq).where(
                tuple_(col(TimelineEntry.pledge_id), col(TimelineEntry.seq)).in_(keys)
            )
        ).all()
    )
    new = [
        {
            "pledge_id": pledge_id,
            "seq": event.seq,
            "at": event.at,
            "actor": event.registry_actor,
            "kind": event.kind.value,
            "message": event.message,
            "status": event.status.value,
            "public": event.public,
        }
        for pledge_id, event in wanted
        if (pledge_id, event.seq) not in known
    ]
    _insert(session, TimelineEntry, new)


def _add_reports(session: Session, projections: Sequence[PledgeProjection]) -> None:
    wanted = [(projection.pledge_id, record) for projection in projections for record in projection.reports]
    if not wanted:
        return
    ids = sorted({pledge_id for pledge_id, _ in wanted})
    known = set(
        session.exec(
            select(Report.pledge_id, Report.cycle, Report.received_at).where(col(Report.pledge_id).in_(ids))
        ).all()
    )
    new = [
        {
            "pledge_id": pledge_id,
            "cycle": record.cycle,
            "received_at": record.received_at,
            "source": record.source,
            "final": record.final,
            "progress": record.report.progress.value,
            "narrative": record.report.narrative,
            "details": record.report.model_dump(mode="json", exclude={"progress", "narrative"}),
        }
        for pledge_id, record in wanted
        if (pledge_id, record.cycle, record.received_at) not in known
    ]
    _insert(session, Report, new)
