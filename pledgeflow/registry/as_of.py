"""The registry as it stood on a past day (``pledgeflow report --as-of``), so its statistics are the same
computation as today's (pledgeflow/registry/stats.py), run on what was known then.

The snapshot is an in-memory SQLite registry holding the pledges published by then, each with:

- its status then: the status of its last timeline line up to that moment (the timeline records every
  transition with the status it left the pledge in), and its closure reason only if it was closed by then;
- the reports received by then;
- whether it had reported for its last due cycle then (worked out again from the above);
- its reporting cycle then. A cycle begins only when a report settles the one before (docs/lifecycle.md §5,
  §9), and a settling report belongs to the cycle it settles; so the cycle then is that of the first
  settling report after the moment, or, if none came since, the cycle the pledge is in now.

An imported pledge's timeline holds what the import reconstructed (docs/import.md), so it reads the same way.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, col, create_engine, select
from sqlmodel.sql.expression import SelectOfScalar

from pledgeflow.core.models import Pledge, PledgeCountry, PledgeRegion, PledgeSDG, Report, TimelineEntry
from pledgeflow.registry import facets, kept_counts
from pledgeflow.registry.public import PublicStatus
from workflows.state import EventKind


@contextmanager
def registry_as_of(session: Session, moment: dt.datetime) -> Iterator[Session]:
    """A session on a throw-away registry holding ``session``'s registry as it was at ``moment``."""
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    SQLModel.metadata.create_all(engine)
    try:
        with Session(engine) as snapshot:
            _copy(session, snapshot, moment)
            snapshot.commit()
            yield snapshot
    finally:
        engine.dispose()


def _copy(source: Session, snapshot: Session, moment: dt.datetime) -> None:
    pledges = source.exec(select(Pledge).where(col(Pledge.published_at) <= moment)).all()
    ids = select(Pledge.id).where(col(Pledge.published_at) <= moment)  # a subquery: any number of pledges
    status_then = _statuses(source, ids, moment)
    cycle_then = _cycles(source, ids, moment)
    for pledge in pledges:
        status = status_then.get(pledge.id, PublicStatus.published.value)
        row = Pledge.model_validate(pledge.model_dump())
        row.status = status
        row.closure_reason = pledge.closure_reason if status == PublicStatus.closed.value else None
        row.cycle = cycle_then.get(pledge.id, pledge.cycle)
        snapshot.add(row)
    snapshot.flush()
    for table in (PledgeSDG, PledgeCountry, PledgeRegion):
        for index_row in source.exec(select(table).where(col(table.pledge_id).in_(ids))):
            snapshot.add(table.model_validate(index_row.model_dump()))
    reports = select(Report).where(col(Report.pledge_id).in_(ids), col(Report.received_at) <= moment)
    for report in source.exec(reports):
        snapshot.add(Report.model_validate(report.model_dump()))
    snapshot.flush()
    facets.refresh_reported_last_due(snapshot)  # from the status, cycle and reports of then
    kept_counts.rebuild(snapshot.connection())  # built without migrations, so without the counting triggers


def _statuses(source: Session, ids: SelectOfScalar[str], moment: dt.datetime) -> dict[str, str]:
    query = (
        select(TimelineEntry.pledge_id, TimelineEntry.status)
        .where(col(TimelineEntry.pledge_id).in_(ids), col(TimelineEntry.at) <= moment)
        .order_by(col(TimelineEntry.pledge_id), col(TimelineEntry.seq))
    )
    return {pledge_id: status for pledge_id, status in source.exec(query)}  # the last line of each wins


def _cycles(source: Session, ids: SelectOfScalar[str], moment: dt.datetime) -> dict[str, int]:
    """The cycle then of each pledge whose cycle has moved on since: that of its first settling report after."""
    settled = select(TimelineEntry.pledge_id, TimelineEntry.at).where(
        col(TimelineEntry.pledge_id).in_(ids),
        col(TimelineEntry.at) > moment,
        col(TimelineEntry.kind) == EventKind.report_received.value,
        col(TimelineEntry.status) == PublicStatus.published.value,  # it settled the cycle: back to published
    )
    settling: dict[str, set[dt.datetime]] = defaultdict(set)
    for pledge_id, at in source.exec(settled):
        settling[pledge_id].add(at)
    later = select(Report).where(col(Report.pledge_id).in_(ids), col(Report.received_at) > moment)
    cycles: dict[str, int] = {}
    for report in source.exec(later.order_by(col(Report.received_at))):
        if report.received_at in settling.get(report.pledge_id, ()):
            cycles.setdefault(report.pledge_id, report.cycle)
    return cycles
