"""What the projection derives from a pledge for searching and counting: its time frame, the text ``q``
searches, and whether it has reported for its last due cycle.

Kept as columns and rows the projection writes (and migration 0005 built for existing pledges), so the
registry's search and statistics read indexes instead of reparsing every submission per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import ColumnElement, case, exists, select, update
from sqlmodel import Session, col

from pledgeflow.core.models import Pledge, Report
from workflows.state import PledgeStatus
from workflows.submission import Submission


class TimeFrame(StrEnum):
    up_to_1y = "up_to_1y"
    from_1_to_3y = "1_to_3y"
    from_3_to_5y = "3_to_5y"
    over_5y = "over_5y"
    open_ended = "open_ended"


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def time_frame(start: dt.date, end: dt.date | None, open_ended: bool) -> TimeFrame:
    if open_ended or end is None:
        return TimeFrame.open_ended
    for years, frame in ((1, TimeFrame.up_to_1y), (3, TimeFrame.from_1_to_3y), (5, TimeFrame.from_3_to_5y)):
        if end <= _add_years(start, years):
            return frame
    return TimeFrame.over_5y


# Lines of the searched text; a query cannot hold a control character (the API refuses one), so a
# match never runs from one field into the next.
FIELD_SEPARATOR = "\n"


def document(submission: Submission) -> str:
    """The searched text: title, organisation, description, partners' names and deliverables' titles."""
    parts = [submission.title, submission.organization.name, submission.description]
    parts += [partner.name for partner in submission.partners]
    parts += [deliverable.title for deliverable in submission.deliverables]
    return FIELD_SEPARATOR.join(parts)


def last_due_cycle() -> ColumnElement[int]:
    """The cycle a pledge's latest report was due for: the one before while a request is still open."""
    return case((col(Pledge.status) == PledgeStatus.report_due.value, col(Pledge.cycle) - 1), else_=col(Pledge.cycle))


def refresh_reported_last_due(session: Session, pledge_ids: Iterable[str] | None = None) -> None:
    """Set ``reported_last_due`` of these pledges (all when None) from their reports, in one statement."""
    reported = exists(
        select(col(Report.id)).where(col(Report.pledge_id) == col(Pledge.id), col(Report.cycle) == last_due_cycle())
    )
    statement = update(Pledge).values(reported_last_due=reported)
    if pledge_ids is not None:
        statement = statement.where(col(Pledge.id).in_(sorted(set(pledge_ids))))
    session.execute(statement.execution_options(synchronize_session=False))
