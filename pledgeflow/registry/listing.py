"""The registry page's listing: how many pledges match, other orders than the newest, and reporting by year.

Built on the registry's own filters (``search.conditions``) and, for the newest-first order, on
``search.search`` itself. The other orders page the same way, by keyset: each page continues strictly
after the last row of the one before in (sort key, id), under a cursor signed and bound to its filters and
order, so no walk repeats or skips a pledge.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, and_, extract, func, or_, true
from sqlmodel import Session, col, select

from pledgeflow.core.models import Pledge, Report, TimelineEntry
from pledgeflow.registry import json_lists, search
from pledgeflow.registry.search import CursorCodec, CursorError, RegistryFilters
from workflows.state import EventKind


class Sort(StrEnum):
    newest = "newest"  # newest publication first (the registry's own order)
    a_to_z = "title"  # A to Z
    deadline = "deadline"  # the soonest next deadline first; none (closed) last
    resources = "resources"  # the largest pledged amount first


def count(session: Session, filters: RegistryFilters) -> int:
    return int(session.exec(select(func.count()).select_from(Pledge).where(*search.conditions(filters))).one())


@dataclass(frozen=True)
class _Order:
    key: Any  # the column sorted on
    descending: bool


_ORDERS = {
    Sort.a_to_z: _Order(func.lower(col(Pledge.title)), descending=False),
    Sort.deadline: _Order(col(Pledge.next_deadline), descending=False),
    Sort.resources: _Order(col(Pledge.financial_usd), descending=True),
}


class SortedCursor:
    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeSerializer(secret, salt="registry-sorted-cursor")

    def encode(self, sort: Sort, filters: RegistryFilters, key: Any, pledge_id: str) -> str:
        value = key.isoformat() if isinstance(key, dt.datetime) else key
        return self._serializer.dumps([sort.value, filters.fingerprint(), value, pledge_id])

    def decode(self, cursor: str, sort: Sort, filters: RegistryFilters) -> tuple[Any, str]:
        try:
            order, fingerprint, value, pledge_id = self._serializer.loads(cursor)
        except (BadSignature, ValueError, TypeError) as exc:
            raise CursorError("not a cursor this registry issued; start again without one") from exc
        if order != sort.value or fingerprint != filters.fingerprint():
            raise CursorError("this cursor belongs to a search with other filters; start again without one")
        if sort == Sort.deadline and value is not None:
            value = dt.datetime.fromisoformat(value)
        return value, str(pledge_id)


def _sort_value(row: Pledge, sort: Sort) -> Any:
    if sort == Sort.a_to_z:
        return row.title.lower()
    if sort == Sort.deadline:
        return row.next_deadline
    return row.financial_usd


def _after(order: _Order, key: Any, pledge_id: str, nulls_last: bool) -> ColumnElement[bool]:
    """Strictly after (key, id) in the order; ids break ties in the same direction as the key."""
    column = order.key
    tie = col(Pledge.id) < pledge_id if order.descending else col(Pledge.id) > pledge_id
    if key is None:  # already among the rows without a key, which come last
        return and_(column.is_(None), tie)
    beyond = column < key if order.descending else column > key
    later = or_(beyond, and_(column == key, tie))
    return or_(later, column.is_(None)) if nulls_last else later


def page(
    session: Session,
    codec: CursorCodec,
    cursors: SortedCursor,
    filters: RegistryFilters,
    sort: Sort,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Pledge], str | None]:
    """One page of public pledges in ``sort`` order and the cursor of the next (None on the last)."""
    if sort == Sort.newest:
        return search.search(session, codec, filters, limit, cursor)
    order = _ORDERS[sort]
    clauses = search.conditions(filters)
    if cursor:
        key, pledge_id = cursors.decode(cursor, sort, filters)
        clauses.append(_after(order, key, pledge_id, nulls_last=sort == Sort.deadline))
    key_order = order.key.desc() if order.descending else order.key.asc()
    id_order = col(Pledge.id).desc() if order.descending else col(Pledge.id).asc()
    query = select(Pledge).where(*clauses).order_by(order.key.is_(None), key_order, id_order).limit(limit + 1)
    rows = session.exec(query).all()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], cursors.encode(sort, filters, _sort_value(last, sort), last.id)


@dataclass(frozen=True)
class ReportingYear:
    """One calendar year of reporting: report requests sent (final ones included) and reports counted."""

    year: int
    requested: int
    received: int

    @property
    def share(self) -> float | None:
        return round(min(self.received, self.requested) / self.requested, 4) if self.requested else None


_REQUESTED = (EventKind.report_requested.value, EventKind.final_report_requested.value)
_RECEIVED = (EventKind.report_received.value, EventKind.final_report_received.value)


def reporting_by_year(session: Session, filters: RegistryFilters) -> list[ReportingYear]:
    """Reporting compliance over time, from the public timeline of the covered pledges: per year, the report
    requests sent and the reports that counted for a cycle (an addition or an early update is not one)."""
    covered = select(Pledge.id).where(*search.conditions(filters))
    year = extract("year", col(TimelineEntry.at))
    query = (
        select(year, TimelineEntry.kind, func.count())
        .where(col(TimelineEntry.pledge_id).in_(covered), col(TimelineEntry.kind).in_(_REQUESTED + _RECEIVED))
        .group_by(year, TimelineEntry.kind)
    )
    requested: Counter[int] = Counter()
    received: Counter[int] = Counter()
    for when, kind, number in session.exec(query).all():
        (requested if kind in _REQUESTED else received)[int(when)] += int(number)
    years = sorted(set(requested) | set(received))
    return [ReportingYear(y, requested[y], received[y]) for y in years]


def reports_received(session: Session, filters: RegistryFilters) -> int:
    covered = select(Pledge.id).where(*search.conditions(filters))
    return int(session.exec(select(func.count()).select_from(Report).where(col(Report.pledge_id).in_(covered))).one())


def by_implementation(session: Session, filters: RegistryFilters) -> Counter[str]:
    """How many covered pledges name each way of implementation (a pledge may name several)."""
    items = json_lists.string_items(session, "implementation")
    query = (
        select(items.c.value, func.count())
        .select_from(Pledge)
        .join(items, true())
        .where(*search.conditions(filters))
        .group_by(items.c.value)
    )
    return Counter({str(value): int(number) for value, number in session.exec(query).all()})
