"""Registry statistics, the figures of the UN partnerships reports: themes, geography, partners, time frame,
resources and reporting compliance.

Without filters the counts are read from the few rows the database keeps for them as the projection writes
(pledgeflow/registry/kept_counts.py). With filters they are computed in SQL over columns and index rows the
projection keeps (pledgeflow/registry/facets.py), so no request reparses a submission: one GROUP BY over
``ix_pledge_facets`` gives every per-pledge breakdown and the reporting compliance, one GROUP BY per index
table (SDGs, countries, regions) the rest. With an SDG or a country filter the pledges are found from those
index rows and, on SQLite, read from ``ix_pledge_by_id``, never from their wide rows. Either way the pledged
amounts above zero are read from ``ix_pledge_amounts`` and summed and sorted here, so the sums, the median
and the outlier fence stay exact. Every query is run on the session's connection: the rows are plain
tuples, without the ORM's per-row work (a third of the time at 100,000 pledges). A median and an outlier
flag sit next to every sum so two huge pledges cannot pass for a trend.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, case, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from pledgeflow.core.models import Pledge, PledgeCountry, PledgeRegion, PledgeSDG
from pledgeflow.registry import kept_counts
from pledgeflow.registry.facets import TimeFrame, last_due_cycle
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
SDGS = range(1, 18)


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


class _Facets:
    """The per-pledge breakdowns of the covered pledges and their reporting compliance."""

    _COLUMNS = ("status", "closure_reason", "geographic_scope", "organization_type", "pledge_type", "time_frame")

    def __init__(self) -> None:
        self.counts = {name: Counter[str]() for name in self._COLUMNS}
        self.total = self.considered = self.with_report = self.delisted = 0
        self.without_region = 0  # from the kept counts only (with filters, regions are counted apart)

    @classmethod
    def computed(cls, session: Session, where: list[ColumnElement[bool]]) -> _Facets:
        """Grouped by the leading columns of ``ix_pledge_facets`` in its order, so the database walks the index
        once and groups as it goes: no table row is read and nothing is sorted."""
        considered = and_(col(Pledge.status) != PublicStatus.closed.value, last_due_cycle() >= 1)
        keys = [getattr(Pledge, name) for name in cls._COLUMNS]
        flags = [
            func.sum(case((considered, 1), else_=0)),
            func.sum(case((and_(considered, col(Pledge.reported_last_due)), 1), else_=0)),
        ]
        query = sa_select(*keys, func.count(), *flags).where(*where).group_by(*keys)
        facets = cls()
        for *values, number, considered_here, reported_here in session.connection().execute(query):
            facets.total += number
            for name, value in zip(cls._COLUMNS, values, strict=True):
                facets.counts[name][value] += number
            facets.considered += int(considered_here)
            facets.with_report += int(reported_here)
            if values[1] == ClosureReason.delisted.value:
                facets.delisted += number
        return facets

    @classmethod
    def kept(cls, kept: dict[str, Counter[str]]) -> _Facets:
        """Every published pledge's, from the counts the triggers keep (pledgeflow/registry/kept_counts.py)."""
        facets = cls()
        for name in cls._COLUMNS:
            facets.counts[name] = kept[name]  # a closure reason of none under kept_counts.NONE
        facets.total = kept["status"].total()
        facets.considered, facets.with_report = kept["considered"]["1"], kept["with_report"]["1"]
        facets.delisted = kept["closure_reason"][ClosureReason.delisted.value]
        facets.without_region = kept["names_region"]["0"]
        return facets


def _index_counts(session: Session, table: Any, column: Any, where: list[ColumnElement[bool]]) -> Counter[str]:
    """Counts from an index table (one row per pledge and SDG, country or region) for the covered pledges."""
    query = sa_select(column, func.count()).join(Pledge, col(Pledge.id) == col(table.pledge_id)).where(*where)
    rows = session.connection().execute(query.group_by(column))
    return Counter({str(value): int(count) for value, count in rows})


def _regions(session: Session, where: list[ColumnElement[bool]], total: int) -> Counter[str]:
    counts = _index_counts(session, PledgeRegion, PledgeRegion.region, where)
    # On SQLite counted along ``ix_pledgeregion_pledge`` (pledge id, published_at), a pledge's rows together.
    named = sa_select(func.count(func.distinct(PledgeRegion.pledge_id)))
    named = named.join(Pledge, col(Pledge.id) == col(PledgeRegion.pledge_id)).where(*where)
    unspecified = total - int(session.connection().execute(named).scalar_one())
    if unspecified:
        counts["unspecified"] = unspecified
    return counts


def far_out_fence(amounts: list[float]) -> float | None:
    """Q3 + 3·IQR of sorted amounts, or None when there are too few to speak of outliers."""
    if len(amounts) < 4:
        return None
    q1, _, q3 = statistics.quantiles(amounts, n=4, method="inclusive")
    return q3 + 3 * (q3 - q1)


def _financial(session: Session, where: list[ColumnElement[bool]], total: int) -> Financial:
    above_zero = [*where, col(Pledge.financial_usd) > 0]
    rows = session.connection().execute(sa_select(col(Pledge.financial_usd)).where(*above_zero)).scalars()
    amounts = sorted(float(amount) for amount in rows)
    fence = far_out_fence(amounts)
    regular = [a for a in amounts if fence is None or a <= fence]
    flagged = amounts[len(regular) :]
    largest = []
    if fence is not None and flagged:
        query = (
            select(Pledge.id, Pledge.title, Pledge.financial_usd)
            .where(*where, col(Pledge.financial_usd) > fence)
            .order_by(col(Pledge.financial_usd).desc(), col(Pledge.id))
            .limit(MAX_LISTED_OUTLIERS)
        )
        largest = [OutlierPledge(id=i, title=t, financial_usd=usd) for i, t, usd in session.exec(query).all()]
    total_usd = math.fsum(amounts)
    return Financial(
        pledges_with_amount=len(amounts),
        pledges_without_amount=total - len(amounts),
        sum_usd=total_usd,
        median_usd=statistics.median(amounts) if amounts else None,
        sum_without_outliers_usd=math.fsum(regular),
        median_without_outliers_usd=statistics.median(regular) if regular else None,
        outliers=Outliers(
            fence_usd=fence,
            count=len(flagged),
            sum_usd=math.fsum(flagged),
            share_of_sum=round(math.fsum(flagged) / total_usd, 4) if total_usd else 0.0,
            pledges=largest,
        ),
    )


def _compliance(facets: _Facets) -> ReportingCompliance:
    by_status = facets.counts["status"]
    return ReportingCompliance(
        pledges_considered=facets.considered,
        with_report=facets.with_report,
        share=round(facets.with_report / facets.considered, 4) if facets.considered else None,
        report_due=by_status[PublicStatus.report_due.value],
        report_overdue=by_status[PublicStatus.report_overdue.value],
        non_reporting=by_status[PublicStatus.non_reporting.value],
        delisted=facets.delisted,
    )


def registry_stats(session: Session, filters: RegistryFilters) -> RegistryStats:
    """The statistics of the pledges ``filters`` cover: without filters from the kept counts, with them
    computed over the index tables (either way the amounts are read and summed here, exactly)."""
    where = conditions(filters, from_index=True)
    if filters == RegistryFilters():
        kept = kept_counts.read(session)
        facets = _Facets.kept(kept)
        sdgs, countries, regions = kept["sdg"], kept["country"], kept["region"]
        if facets.without_region:
            regions["unspecified"] = facets.without_region
    else:
        facets = _Facets.computed(session, where)
        sdgs = _index_counts(session, PledgeSDG, PledgeSDG.sdg, where)
        countries = _index_counts(session, PledgeCountry, PledgeCountry.country, where)
        regions = _regions(session, where, facets.total)
    total, counts = facets.total, facets.counts
    return RegistryStats(
        pledges=total,
        computed_at=dt.datetime.now(dt.UTC),
        filters=describe(filters),
        by_status=_shares(counts["status"], total, [s.value for s in PublicStatus]),
        by_sdg=_shares(sdgs, total, [str(n) for n in SDGS]),
        by_scope=_shares(counts["geographic_scope"], total, [s.value for s in GeographicScope]),
        by_region=_shares(regions, total),
        by_country=_shares(countries, total),
        by_organization_type=_shares(counts["organization_type"], total, [t.value for t in OrganizationType]),
        by_pledge_type=_shares(counts["pledge_type"], total, [t.value for t in PledgeType]),
        by_time_frame=_shares(counts["time_frame"], total, [f.value for f in TimeFrame]),
        financial=_financial(session, where, total),
        reporting=_compliance(facets),
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
