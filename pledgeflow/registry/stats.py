"""Registry statistics, the figures of the UN partnerships reports: themes, geography, partners, time frame,
resources and reporting compliance.

One query reads the light columns of the covered pledges and the SDG and country index tables are read
as pairs; everything but regions (which only the submission JSON holds) is counted in Python from those.
So the pledge table is scanned twice, not once per breakdown: on SQLite a registry row carries its
submission in overflow pages, and every GROUP BY over the table would read all of them again.
A median and an outlier flag sit next to every sum so two huge pledges cannot pass for a trend.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import threading
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, case, func, true
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from pledgeflow.core.models import Pledge, PledgeCountry, PledgeSDG, Report
from pledgeflow.registry import json_lists
from pledgeflow.registry.public import PublicStatus
from pledgeflow.registry.search import RegistryFilters, conditions, describe
from workflows.state import ClosureReason
from workflows.submission import GeographicScope, OrganizationType, PledgeType

OUTLIER_RULE = (
    "a pledged amount above Q3 + 3 x IQR of the amounts above zero (Tukey's far-out fence; quartiles by "
    "linear interpolation); needs at least 4 amounts"
)
COMPLIANCE_RULE = (
    "open pledges asked for at least one report; a pledge complies when it has a report for its last due "
    "cycle: the current cycle, or the one before while the current request is still within its deadline "
    "(report_due)"
)
MAX_LISTED_OUTLIERS = 50


class TimeFrame(StrEnum):
    up_to_1y = "up_to_1y"
    from_1_to_3y = "1_to_3y"
    from_3_to_5y = "3_to_5y"
    over_5y = "over_5y"
    open_ended = "open_ended"


class Share(BaseModel):
    key: str
    count: int
    share: float = Field(description="count / number of pledges covered, rounded to 4 places")


class OutlierPledge(BaseModel):
    id: str
    title: str
    financial_usd: float


class Outliers(BaseModel):
    rule: str = OUTLIER_RULE
    fence_usd: float | None
    count: int
    sum_usd: float
    share_of_sum: float
    pledges: list[OutlierPledge] = Field(description=f"largest first, at most {MAX_LISTED_OUTLIERS}")


class Financial(BaseModel):
    currency: str = "USD"
    pledges_with_amount: int
    pledges_without_amount: int
    sum_usd: float
    median_usd: float | None = Field(description="median of the amounts above zero")
    sum_without_outliers_usd: float
    median_without_outliers_usd: float | None
    outliers: Outliers


class ReportingCompliance(BaseModel):
    rule: str = COMPLIANCE_RULE
    pledges_considered: int
    with_report: int
    share: float | None
    report_due: int
    report_overdue: int
    non_reporting: int
    delisted: int


class RegistryStats(BaseModel):
    pledges: int = Field(description="public pledges covered (ever published, matching the filters)")
    computed_at: dt.datetime = Field(description="statistics are recomputed at most once a minute")
    filters: dict[str, Any]
    note: str = (
        "A pledge can name several SDGs, countries and regions, so those shares can add up to more than 1; "
        "'unspecified' counts pledges that name no region."
    )
    by_status: list[Share]
    by_sdg: list[Share]
    by_scope: list[Share]
    by_region: list[Share]
    by_country: list[Share]
    by_organization_type: list[Share]
    by_pledge_type: list[Share]
    by_time_frame: list[Share]
    financial: Financial
    reporting: ReportingCompliance


def _shares(counts: Counter[str], total: int, keys: Iterable[str] | None = None) -> list[Share]:
    """Fixed ``keys`` (an enum) keep their order and show zeros; open keys go by count, then name."""
    ordered = list(keys) if keys is not None else sorted(counts, key=lambda key: (-counts[key], key))
    return [Share(key=key, count=counts[key], share=round(counts[key] / total, 4) if total else 0.0) for key in ordered]


class _Covered(NamedTuple):
    """The light columns statistics need, one per covered pledge, read in a single pass.

    One pass matters on SQLite, where a registry row carries its submission JSON in overflow pages: each
    further GROUP BY over the pledge table would read all of them again.
    """

    id: str
    status: str
    closure_reason: str | None
    geographic_scope: str
    organization_type: str
    pledge_type: str
    start_date: dt.date
    end_date: dt.date | None
    open_ended: bool
    financial_usd: float
    last_due_cycle: int
    reported_last_due: bool


_COVERED_COLUMNS = (
    "id",
    "status",
    "closure_reason",
    "geographic_scope",
    "organization_type",
    "pledge_type",
    "start_date",
    "end_date",
    "open_ended",
    "financial_usd",
)


def _covered(session: Session, where: list[ColumnElement[bool]]) -> list[_Covered]:
    last_due = case((col(Pledge.status) == PublicStatus.report_due.value, col(Pledge.cycle) - 1), else_=Pledge.cycle)
    reported = select(Report.id).where(col(Report.pledge_id) == col(Pledge.id), col(Report.cycle) == last_due).exists()
    columns = [getattr(Pledge, name) for name in _COVERED_COLUMNS]
    query = sa_select(*columns, last_due.label("last_due_cycle"), reported.label("reported_last_due")).where(*where)
    return [_Covered._make(row) for row in session.execute(query)]


def _index_counts(session: Session, table: Any, column: Any, where: list[ColumnElement[bool]]) -> Counter[str]:
    """Counts from an index table (one row per pledge and SDG or country) for the covered pledges.

    A semi-join on the pledge ids, which the planner answers from the pledge table's narrow columns.
    """
    covered = select(Pledge.id).where(*where)
    query = select(column, func.count()).where(col(table.pledge_id).in_(covered)).group_by(column)
    return Counter({str(value): int(count) for value, count in session.exec(query).all()})


def _regions(session: Session, where: list[ColumnElement[bool]], total: int) -> Counter[str]:
    """Regions live only in the submission JSON: unnested in SQL, the one pass that reads it."""
    items = json_lists.string_items(session, "regions")
    pairs = set(session.exec(select(items.c.value, Pledge.id).select_from(Pledge).join(items, true()).where(*where)))
    counts = Counter(str(region) for region, _ in pairs)
    unspecified = total - len({pledge_id for _, pledge_id in pairs})
    if unspecified:
        counts["unspecified"] = unspecified
    return counts


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


def far_out_fence(amounts: list[float]) -> float | None:
    """Q3 + 3·IQR of sorted amounts, or None when there are too few to speak of outliers."""
    if len(amounts) < 4:
        return None
    q1, _, q3 = statistics.quantiles(amounts, n=4, method="inclusive")
    return q3 + 3 * (q3 - q1)


def _financial(session: Session, pledges: list[_Covered]) -> Financial:
    amounts = sorted(pledge.financial_usd for pledge in pledges if pledge.financial_usd > 0)
    fence = far_out_fence(amounts)
    regular = [a for a in amounts if fence is None or a <= fence]
    flagged = amounts[len(regular) :]
    largest = sorted(
        (pledge for pledge in pledges if fence is not None and pledge.financial_usd > fence),
        key=lambda pledge: (-pledge.financial_usd, pledge.id),
    )[:MAX_LISTED_OUTLIERS]
    query = select(Pledge.id, Pledge.title).where(col(Pledge.id).in_([p.id for p in largest]))
    titles = {pledge_id: title for pledge_id, title in session.exec(query).all()}
    total_usd = math.fsum(amounts)
    return Financial(
        pledges_with_amount=len(amounts),
        pledges_without_amount=len(pledges) - len(amounts),
        sum_usd=total_usd,
        median_usd=statistics.median(amounts) if amounts else None,
        sum_without_outliers_usd=math.fsum(regular),
        median_without_outliers_usd=statistics.median(regular) if regular else None,
        outliers=Outliers(
            fence_usd=fence,
            count=len(flagged),
            sum_usd=math.fsum(flagged),
            share_of_sum=round(math.fsum(flagged) / total_usd, 4) if total_usd else 0.0,
            pledges=[OutlierPledge(id=p.id, title=titles[p.id], financial_usd=p.financial_usd) for p in largest],
        ),
    )


def _compliance(pledges: list[_Covered], by_status: Counter[str]) -> ReportingCompliance:
    considered = [p for p in pledges if p.status != PublicStatus.closed.value and p.last_due_cycle >= 1]
    with_report = sum(1 for p in considered if p.reported_last_due)
    return ReportingCompliance(
        pledges_considered=len(considered),
        with_report=with_report,
        share=round(with_report / len(considered), 4) if considered else None,
        report_due=by_status[PublicStatus.report_due.value],
        report_overdue=by_status[PublicStatus.report_overdue.value],
        non_reporting=by_status[PublicStatus.non_reporting.value],
        delisted=sum(1 for p in pledges if p.closure_reason == ClosureReason.delisted.value),
    )


def registry_stats(session: Session, filters: RegistryFilters) -> RegistryStats:
    where = conditions(filters)
    pledges = _covered(session, where)
    total = len(pledges)

    def count(attribute: str) -> Counter[str]:
        return Counter(getattr(pledge, attribute) for pledge in pledges)

    by_status = count("status")
    time_frames = Counter(time_frame(p.start_date, p.end_date, p.open_ended).value for p in pledges)
    return RegistryStats(
        pledges=total,
        computed_at=dt.datetime.now(dt.UTC),
        filters=describe(filters),
        by_status=_shares(by_status, total, [s.value for s in PublicStatus]),
        by_sdg=_shares(_index_counts(session, PledgeSDG, PledgeSDG.sdg, where), total, [str(n) for n in range(1, 18)]),
        by_scope=_shares(count("geographic_scope"), total, [s.value for s in GeographicScope]),
        by_region=_shares(_regions(session, where, total), total),
        by_country=_shares(_index_counts(session, PledgeCountry, PledgeCountry.country, where), total),
        by_organization_type=_shares(count("organization_type"), total, [t.value for t in OrganizationType]),
        by_pledge_type=_shares(count("pledge_type"), total, [t.value for t in PledgeType]),
        by_time_frame=_shares(time_frames, total, [f.value for f in TimeFrame]),
        financial=_financial(session, pledges),
        reporting=_compliance(pledges, by_status),
    )


STATS_MAX_AGE = dt.timedelta(seconds=60)
_MAX_CACHED = 128
_cache: dict[tuple[str, str], tuple[dt.datetime, RegistryStats]] = {}
_cache_lock = threading.Lock()


def cached_registry_stats(session: Session, filters: RegistryFilters, now: dt.datetime) -> RegistryStats:
    """The statistics, recomputed at most once a minute per database and filters.

    A full pass over a 100,000-pledge registry takes seconds; a public endpoint must not repeat it for
    every visitor, and figures a minute old are as good as fresh for statistics.
    """
    key = (session.get_bind().engine.url.render_as_string(hide_password=True), filters.fingerprint())
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < STATS_MAX_AGE:
        return hit[1]
    stats = registry_stats(session, filters)
    with _cache_lock:
        if len(_cache) >= _MAX_CACHED:
            _cache.pop(min(_cache, key=lambda k: _cache[k][0]))
        _cache[key] = (now, stats)
    return stats
