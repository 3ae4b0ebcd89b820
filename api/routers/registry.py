"""The public registry: search, pledge pages, matchmaking, statistics and open data. No auth, no Temporal;
it reads only the registry projection."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from itertools import chain, islice
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field
from sqlalchemy.exc import OperationalError

from api.deps import ReadingSessionDep, SessionDep, SettingsDep
from api.problems import FieldError, ProblemError, responses, unavailable
from pledgeflow.core import ids
from pledgeflow.core.models import Pledge
from pledgeflow.registry import iati
from pledgeflow.registry import related as registry_related
from pledgeflow.registry import schema as registry_schema
from pledgeflow.registry import search as registry_search
from pledgeflow.registry import stats as registry_stats
from pledgeflow.registry.export import atom_feed, export_csv, export_json
from pledgeflow.registry.public import (
    PledgeDetail,
    PledgePage,
    PublicStatus,
    RelatedPledge,
    RelatedPledges,
    public_pledge,
    public_report,
    public_timeline_entry,
)
from pledgeflow.registry.records import Links
from pledgeflow.registry.search import CursorCodec, CursorError, RegistryFilters
from pledgeflow.registry.stats import RegistryStats
from workflows.submission import GeographicScope, OrganizationType

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

MAX_PAGE = 100
FEED_ENTRIES = 50
SdgNumber = Annotated[int, Field(ge=1, le=17)]
NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"


async def registry_filters(
    q: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_CONTROL_CHARACTERS,
            description="Text in the title, organisation, description, partners or deliverables (any case)",
        ),
    ] = None,
    sdg: Annotated[list[SdgNumber] | None, Query(description="Any of these SDGs (repeat the parameter)")] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{3}$", description="ISO 3166-1 alpha-3")] = None,
    organization_type: OrganizationType | None = None,
    scope: GeographicScope | None = None,
    status: Annotated[list[PublicStatus] | None, Query(description="Any of these statuses")] = None,
) -> RegistryFilters:
    return registry_search.filters_from(q, sdg, country, organization_type, scope, status)


FiltersDep = Annotated[RegistryFilters, Depends(registry_filters)]
PledgeId = Annotated[str, Path(description="A pledge id like PF-7K3M9QX")]


def _public_row(session: SessionDep, pledge_id: str) -> Pledge:
    # An id that cannot exist is as unknown as one that does not: 404 without asking the database.
    row = registry_search.get_public(session, pledge_id) if re.fullmatch(ids.PATTERN, pledge_id) else None
    if row is None:
        raise ProblemError(404, f"no published pledge {pledge_id}")
    return row


@router.get("/pledges", response_model=PledgePage, responses=responses(422, 503))
def search_pledges(
    session: ReadingSessionDep,
    settings: SettingsDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    cursor: Annotated[str | None, Query(max_length=500, description="next_cursor of the previous page")] = None,
) -> Response:
    """Published pledges, newest publication first; follow `next_cursor` to walk all of them exactly once."""
    # The page is written from each pledge's stored record, as export.json is: building and validating
    # the public shape of every row again was most of a page's time (docs/benchmark.md, "registry").
    codec = CursorCodec(settings.signing_key())
    try:
        records, next_cursor = registry_search.search_records(session, codec, filters, limit, cursor)
    except CursorError as exc:
        raise ProblemError(422, f"cursor: {exc}", errors=[FieldError(field="cursor", message=str(exc))]) from exc
    body = Links(settings.public_base_url).page_json(records, next_cursor)
    return Response(body, media_type="application/json")


@router.get("/pledges/{pledge_id}", responses=responses(404, 422, 503))
def get_pledge(pledge_id: PledgeId, session: SessionDep, settings: SettingsDep) -> PledgeDetail:
    """A published pledge with its reports and its public timeline."""
    row = _public_row(session, pledge_id)
    return PledgeDetail(
        pledge=public_pledge(row, settings.public_base_url),
        reports=[
            public_report(report, row.organization_country) for report in registry_search.reports_of(session, row.id)
        ],
        timeline=[
            public_timeline_entry(entry, row.organization_country)
            for entry in registry_search.public_timeline_of(session, row.id)
        ],
    )


@router.get("/pledges/{pledge_id}/related", responses=responses(404, 422, 503))
def related_pledges(
    pledge_id: PledgeId,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> RelatedPledges:
    """Other published pledges sharing SDGs, countries or partners, best match first, with the reason."""
    row = _public_row(session, pledge_id)
    base = settings.public_base_url
    return RelatedPledges(
        pledge_id=row.id,
        items=[
            RelatedPledge(
                pledge=public_pledge(match.pledge, base),
                score=match.score,
                reason=match.reason,
                shared_sdgs=match.shared_sdgs,
                shared_countries=match.shared_countries,
                shared_partners=match.shared_partners,
            )
            for match in registry_related.related_pledges(session, row, limit)
        ],
    )


@router.get("/stats", responses=responses(422, 503))
def stats(session: SessionDep, filters: FiltersDep) -> RegistryStats:
    """Counts and shares, pledged USD (sum, median, outliers) and reporting compliance; filters as in search.

    Recomputed at most once a minute per filter combination (see `computed_at`)."""
    return registry_stats.cached_registry_stats(session, filters, dt.datetime.now(dt.UTC))


T = TypeVar("T")


def _reached(rows: Iterator[T]) -> Iterator[T]:
    try:
        head = list(islice(rows, 1))  # reach the database now: an outage answers 503, not a cut-off download
    except OperationalError as exc:
        raise unavailable("the database") from exc
    return chain(head, rows)


def _all_public(settings: SettingsDep, filters: FiltersDep) -> Iterator[Pledge]:
    """Every public pledge matching the filters (none: the whole registry), as the registry page's
    "download these results" asks for them."""
    return _reached(registry_search.iter_public(settings.database_url, filters))


def _json_records(settings: SettingsDep, filters: FiltersDep) -> Iterator[tuple[str, str]]:
    """(id, ``public_json``) of the pledges ``_all_public`` reads; the CSV export reads ``public_csv``."""
    return _reached(registry_search.iter_public_records(settings.database_url, filters))


def _csv_records(settings: SettingsDep, filters: FiltersDep) -> Iterator[tuple[str, str]]:
    return _reached(registry_search.iter_public_records(settings.database_url, filters, csv=True))


AllPublic = Annotated[Iterator[Pledge], Depends(_all_public)]
JsonRecords = Annotated[Iterator[tuple[str, str]], Depends(_json_records)]
CsvRecords = Annotated[Iterator[tuple[str, str]], Depends(_csv_records)]


def _download(body: StreamingResponse, filename: str) -> StreamingResponse:
    body.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return body


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "Every published pledge, one row each"},
        **responses(503),
    },
)
def export_as_csv(rows: CsvRecords, settings: SettingsDep) -> StreamingResponse:
    """Every published pledge in the registry's stable order, as CSV (streamed); filters as in search."""
    body = export_csv(rows, settings.public_base_url)
    return _download(StreamingResponse(body, media_type="text/csv; charset=utf-8"), "pledgeflow-registry.csv")


@router.get(
    "/export.json",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/json": {}}, "description": "A JSON array of every published pledge"},
        **responses(503),
    },
)
def export_as_json(rows: JsonRecords, settings: SettingsDep) -> StreamingResponse:
    """Every published pledge in the registry's stable order, as one JSON array (streamed); filters as in search."""
    body = export_json(rows, settings.public_base_url)
    return _download(StreamingResponse(body, media_type="application/json"), "pledgeflow-registry.json")


@router.get(
    "/feed.atom",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}, "description": "Atom feed"}, **responses(503)},
)
def feed(session: SessionDep, settings: SettingsDep) -> Response:
    """The newest publications as an Atom feed."""
    rows = registry_search.newest(session, FEED_ENTRIES)
    body = atom_feed(rows, settings.public_base_url, dt.datetime.now(dt.UTC))
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get(
    "/schema.json",
    response_class=JSONResponse,
    responses={200: {"content": {"application/schema+json": {}}, "description": "JSON Schema (2020-12)"}},
)
def export_schema(settings: SettingsDep) -> JSONResponse:
    """The JSON Schema that `export.json` validates against (docs/open-data.md has every field)."""
    schema = registry_schema.shipped(settings.public_base_url)
    return JSONResponse(schema, media_type="application/schema+json")


@router.get(
    "/export.iati.xml",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/xml": {}}, "description": "IATI 2.03 activities, one per published pledge"},
        **responses(503),
    },
)
def export_as_iati(rows: AllPublic, settings: SettingsDep) -> StreamingResponse:
    """Every published pledge as an IATI 2.03 activity (streamed): SDGs as tags, pledged USD as a budget,
    reports as results; valid against the IATI activity schema."""
    publisher = iati.Publisher(ref=settings.iati_org_ref, name=settings.iati_org_name, type=settings.iati_org_type)
    now = dt.datetime.now(dt.UTC)
    body = iati.iati_activities(rows, settings.database_url, settings.public_base_url, publisher, now)
    return _download(StreamingResponse(body, media_type="application/xml"), "pledgeflow-registry.iati.xml")
