"""Searching the public registry: filters, a stable order and keyset paging with an opaque cursor.

Order is newest publication first, then id (both descending), and a page continues strictly after the
last row it returned. So a walk through the pages never repeats or skips a pledge, however many pledges
are published while it runs (those land before the walk's position, at the top of the order); offset
paging would shift under such writes and make scrapers miss entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ColumnElement, Select, and_, exists, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge, PledgeCountry, PledgeDocument, PledgeSDG, Report, TimelineEntry
from pledgeflow.registry.public import NEVER_PUBLIC, PublicStatus
from pledgeflow.registry.text_search import folded_match, is_broad, text_match
from workflows.submission import GeographicScope, OrganizationType

EXPORT_BATCH = 500
_Query = TypeVar("_Query", bound="Select[*tuple[Any, ...]]")
_Row = TypeVar("_Row")


@dataclass(frozen=True)
class RegistryFilters:
    """Every filter narrows: ``sdgs`` and ``statuses`` match any of their values, the rest must all hold."""

    q: str | None = None
    sdgs: tuple[int, ...] = ()
    country: str | None = None
    organization_type: OrganizationType | None = None
    scope: GeographicScope | None = None
    statuses: tuple[PublicStatus, ...] = field(default=())

    def fingerprint(self) -> str:
        """Binds a cursor to the filters it was made for: a cursor is meaningless under other filters."""
        canonical = json.dumps(
            [
                self.q,
                sorted(self.sdgs),
                self.country,
                self.organization_type,
                self.scope,
                sorted(self.statuses),
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class CursorError(ValueError):
    """A cursor that was not issued by this registry for these filters."""


@dataclass(frozen=True)
class Position:
    """Where a page ended, in the order (published_at desc, id desc)."""

    published_at: dt.datetime
    pledge_id: str


class CursorCodec:
    """Signed cursors: opaque to clients, and any change to one is detected rather than obeyed."""

    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeSerializer(secret, salt="registry-cursor")

    def encode(self, position: Position, filters: RegistryFilters) -> str:
        return self._serializer.dumps([position.published_at.isoformat(), position.pledge_id, filters.fingerprint()])

    def decode(self, cursor: str, filters: RegistryFilters) -> Position:
        try:
            published_at, pledge_id, fingerprint = self._serializer.loads(cursor)
            position = Position(dt.datetime.fromisoformat(published_at), str(pledge_id))
        except (BadSignature, ValueError, TypeError) as exc:
            raise CursorError("not a cursor this registry issued; start again without one") from exc
        if fingerprint != filters.fingerprint():
            raise CursorError("this cursor belongs to a search with other filters; start again without one")
        return position


def is_public() -> ColumnElement[bool]:
    """Ever published: in review, changes requested and rejected pledges never show.

    Written as NOT IN so the planner walks the published_at index in the listing's order instead of
    fetching most of the table through the status index and sorting it (SQLite chose the latter).
    """
    return and_(col(Pledge.published_at).is_not(None), col(Pledge.status).not_in(sorted(NEVER_PUBLIC)))


def conditions(
    filters: RegistryFilters, *, from_index: bool = False, broad_text: bool = False
) -> list[ColumnElement[bool]]:
    """The WHERE clauses for public pledges matching ``filters`` (used by search, stats and export).

    Text goes to its trigram index (pledgeflow/registry/text_search.py). A country names a few pledges in
    a hundred at most: ``id IN`` its index rows, so the planner starts from those and reads only them. An
    SDG names many: for a page in the listing's order it is an EXISTS probe of the index table's primary
    key, so the planner walks that order and stops at a page; ``from_index`` (statistics, which read every
    covered pledge) makes it ``id IN`` as well, unless a country is chosen too: then the country's few
    pledges lead and each is probed for the SDGs (SQLite would otherwise start from the SDG's many).
    ``broad_text`` (``text_search.is_broad``) checks the text pledge by pledge along the order instead of
    starting from its matches.
    """
    clauses = [is_public()]
    if filters.q:
        clauses.append(text_match(filters.q, broad=broad_text))
    # Aliased, so that a query over an index table itself (statistics) correlates only the pledge.
    if filters.sdgs:
        sdg = aliased(PledgeSDG)
        chosen = col(sdg.sdg).in_(sorted(set(filters.sdgs)))
        if from_index and not filters.country:
            clauses.append(col(Pledge.id).in_(select(sdg.pledge_id).where(chosen)))
        else:
            clauses.append(exists(select(sdg.sdg).where(col(sdg.pledge_id) == col(Pledge.id), chosen)))
    if filters.country:
        country = aliased(PledgeCountry)
        clauses.append(col(Pledge.id).in_(select(country.pledge_id).where(col(country.country) == filters.country)))
    if filters.organization_type:
        clauses.append(col(Pledge.organization_type) == filters.organization_type.value)
    if filters.scope:
        clauses.append(col(Pledge.geographic_scope) == filters.scope.value)
    if filters.statuses:
        clauses.append(col(Pledge.status).in_(sorted({status.value for status in filters.statuses})))
    return clauses


def _after(position: Position, published_at: Any, pledge_id: Any) -> ColumnElement[bool]:
    # The leading range lets the index seek straight to the position; the OR alone would scan up to it.
    return and_(
        published_at <= position.published_at,
        or_(published_at < position.published_at, pledge_id < position.pledge_id),
    )


def _in_order(query: _Query, session: Session, filters: RegistryFilters, limit: int, after: Position | None) -> _Query:
    """``query`` (over ``Pledge``) narrowed to a page of ``filters`` after ``after``, in the registry's order.

    A chosen country's pledges are walked from its index rows, which carry the listing's sort key
    (``ix_pledgecountry_sorted``): the walk stops at a page, where ``id IN`` the country's rows would read
    and sort every one of them first. So are one chosen SDG's (``ix_pledgesdg_sorted``), without a
    country: the pledges read are the SDG's, not every pledge along the order to be probed for it. Several
    SDGs are probed, as a join would repeat a pledge that names more than one. Without either, a text on
    PostgreSQL walks the documents, which carry the sort key too (``ix_pledgedocument_sorted``), matching
    each in turn, or starts from the trigram index's matches for a rare text: the planner chooses. Walking
    the pledges instead looked each one's document up by its id: 378 lookups for a page of one subject at
    100,000 pledges.
    """
    published_at, pledge_id = col(Pledge.published_at), col(Pledge.id)
    if filters.country:
        chosen = and_(col(PledgeCountry.pledge_id) == col(Pledge.id), col(PledgeCountry.country) == filters.country)
        query = query.join(PledgeCountry, chosen)
        published_at, pledge_id = col(PledgeCountry.published_at), col(PledgeCountry.pledge_id)
        filters = replace(filters, country=None)
    elif len(set(filters.sdgs)) == 1:
        chosen = and_(col(PledgeSDG.pledge_id) == col(Pledge.id), col(PledgeSDG.sdg) == filters.sdgs[0])
        query = query.join(PledgeSDG, chosen)
        published_at, pledge_id = col(PledgeSDG.published_at), col(PledgeSDG.pledge_id)
        filters = replace(filters, sdgs=())
    elif filters.q and session.get_bind().dialect.name == "postgresql":
        chosen = and_(col(PledgeDocument.pledge_id) == col(Pledge.id), folded_match(filters.q))
        query = query.join(PledgeDocument, chosen)
        published_at, pledge_id = col(PledgeDocument.published_at), col(PledgeDocument.pledge_id)
        filters = replace(filters, q=None)
    clauses = conditions(filters, broad_text=bool(filters.q) and is_broad(session, filters.q or ""))
    if after is not None:
        clauses.append(_after(after, published_at, pledge_id))
    return query.where(*clauses).order_by(published_at.desc(), pledge_id.desc()).limit(limit)


def _page_rows(session: Session, filters: RegistryFilters, limit: int, after: Position | None) -> Sequence[Pledge]:
    return session.exec(_in_order(select(Pledge), session, filters, limit, after)).all()


def _position(row: Pledge) -> Position:
    assert row.published_at is not None
    return Position(row.published_at, row.id)


def _next_cursor(
    codec: CursorCodec, filters: RegistryFilters, rows: Sequence[_Row], limit: int, position: Callable[[_Row], Position]
) -> str | None:
    """The cursor after a page of ``limit``, read as ``limit + 1`` rows; None when no row came past it."""
    return codec.encode(position(rows[limit - 1]), filters) if len(rows) > limit else None


def search(
    session: Session, codec: CursorCodec, filters: RegistryFilters, limit: int, cursor: str | None
) -> tuple[Sequence[Pledge], str | None]:
    """One page of public pledges and the cursor of the next page (None on the last)."""
    after = codec.decode(cursor, filters) if cursor else None
    rows = _page_rows(session, filters, limit + 1, after)
    return rows[:limit], _next_cursor(codec, filters, rows, limit, _position)


def iter_public(database_url: str, filters: RegistryFilters) -> Iterator[Pledge]:
    """Every public pledge in the registry's order, read in keyset batches, each in a short session.

    Streaming an export must not hold 100,000 rows, nor one database transaction for as long as a slow
    client takes to download; the keyset keeps the batches seamless under concurrent publications.
    """
    size = EXPORT_BATCH
    after: Position | None = None
    while True:
        with session_for(database_url) as session:
            rows = _page_rows(session, filters, size, after)
            session.expunge_all()
        yield from rows
        if len(rows) < size:
            return
        after = _position(rows[-1])


def _record_rows(
    session: Session, filters: RegistryFilters, record: Any, limit: int, after: Position | None
) -> Sequence[tuple[dt.datetime | None, str, str | None]]:
    """(published_at, id, ``record``) of a page in the registry's order: no wide row, no ORM object."""
    query = select(col(Pledge.published_at), col(Pledge.id), record)
    return session.exec(_in_order(query, session, filters, limit, after)).all()


def _records(rows: Sequence[tuple[dt.datetime | None, str, str | None]]) -> list[tuple[str, str]]:
    records = []
    for _, pledge_id, text in rows:
        assert text is not None, f"pledge {pledge_id} is public without its export records"
        records.append((pledge_id, text))
    return records


def _row_position(row: tuple[dt.datetime | None, str, str | None]) -> Position:
    published_at, pledge_id, _ = row
    assert published_at is not None
    return Position(published_at, pledge_id)


def search_records(
    session: Session, codec: CursorCodec, filters: RegistryFilters, limit: int, cursor: str | None
) -> tuple[list[tuple[str, str]], str | None]:
    """:func:`search` as (id, ``public_json``) of each pledge on the page: the listing reads the record the
    projection keeps (pledgeflow/registry/records.py) instead of building the public shape row by row."""
    after = codec.decode(cursor, filters) if cursor else None
    rows = _record_rows(session, filters, col(Pledge.public_json), limit + 1, after)
    return _records(rows[:limit]), _next_cursor(codec, filters, rows, limit, _row_position)


def iter_public_records(database_url: str, filters: RegistryFilters, csv: bool = False) -> Iterator[tuple[str, str]]:
    """(id, ``public_json``) of every public pledge (``csv``: its ``public_csv``), walked like
    :func:`iter_public` but reading only those columns."""
    record = col(Pledge.public_csv) if csv else col(Pledge.public_json)
    after: Position | None = None
    while True:
        with session_for(database_url) as session:
            rows = _record_rows(session, filters, record, EXPORT_BATCH, after)
        yield from _records(rows)
        if len(rows) < EXPORT_BATCH:
            return
        after = _row_position(rows[-1])


def newest(session: Session, count: int) -> Sequence[Pledge]:
    return _page_rows(session, RegistryFilters(), count, None)


def get_public(session: Session, pledge_id: str) -> Pledge | None:
    row = session.exec(select(Pledge).where(Pledge.id == pledge_id, is_public())).first()
    return row


def reports_of(session: Session, pledge_id: str) -> Sequence[Report]:
    return session.exec(
        select(Report).where(Report.pledge_id == pledge_id).order_by(col(Report.cycle), col(Report.received_at))
    ).all()


def public_timeline_of(session: Session, pledge_id: str) -> Sequence[TimelineEntry]:
    return session.exec(
        select(TimelineEntry)
        .where(TimelineEntry.pledge_id == pledge_id, col(TimelineEntry.public).is_(True))
        .order_by(col(TimelineEntry.seq))
    ).all()


def filters_from(
    q: str | None,
    sdg: list[int] | None,
    country: str | None,
    organization_type: OrganizationType | None,
    scope: GeographicScope | None,
    status: list[PublicStatus] | None,
) -> RegistryFilters:
    return RegistryFilters(
        q=(q.strip() or None) if q else None,
        sdgs=tuple(sdg or ()),
        country=country.upper() if country else None,
        organization_type=organization_type,
        scope=scope,
        statuses=tuple(status or ()),
    )


def describe(filters: RegistryFilters) -> dict[str, Any]:
    """The filters in force, echoed in stats so a reader knows what the numbers cover."""
    described: dict[str, Any] = {}
    if filters.q:
        described["q"] = filters.q
    if filters.sdgs:
        described["sdg"] = sorted(set(filters.sdgs))
    for name in ("country", "organization_type", "scope"):
        value = getattr(filters, name)
        if value:
            described[name] = str(value)
    if filters.statuses:
        described["status"] = sorted(str(status) for status in filters.statuses)
    return described
