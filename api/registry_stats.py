"""Registry statistics, the figures of the UN partnerships reports: themes, geography, partners, time frame,
resources and reporting compliance.

Counts are grouped in SQL; the amounts (one float per pledge) and time frames (three small columns) are
read as light columns and summarised in Python, which stays quick at 100,000 pledges on either database.
A median and an outlier flag sit next to every sum so two huge pledges cannot pass for a trend.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, case, func, true
from sqlmodel import Session, col, select

from api import registry_json
from api.registry_public import PublicStatus
from api.registry_search import RegistryFilters, conditions, describe
from pledgeflow.models import Pledge, PledgeCountry, PledgeSDG, Report
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


def _grouped(session: Session, column: Any, where: list[ColumnElement[bool]]) -> Counter[str]:
    rows = session.exec(select(column, func.count()).where(*where).group_by(column)).all()
    return Counter({str(key): int(count) for key, count in rows})


def _grouped_index(session: Session, table: Any, column: Any, where: list[ColumnElement[bool]]) -> Counter[str]:
    query = select(column, func.count()).join(Pledge, col(Pledge.id) == table.pledge_id).where(*where).group_by(column)
    return Counter({str(key): int(count) for key, count in session.exec(query).all()})


def _regions(session: Session, where: list[ColumnElement[bool]], total: int) -> Counter[str]:
    items = registry_json.string_items(session, "regions")
    query = select(items.c.value, func.count(func.distinct(Pledge.id))).select_from(Pledge).join(items, true())
    counts = Counter({str(key): int(n) for key, n in session.exec(query.where(*where).group_by(items.c.value))})
    with_region = session.exec(
        select(func.count(func.distinct(Pledge.id))).select_from(Pledge).join(items, true()).where(*where)
    ).one()
    if total - with_region:
        counts["unspecified"] = total - with_region
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


def _time_frames(session: Session, where: list[ColumnElement[bool]]) -> Counter[str]:
    columns = select(col(Pledge.start_date), col(Pledge.end_date), col(Pledge.open_ended))
    rows = session.exec(columns.where(*where)).all()
    return Counter(time_frame(start, end, bool(open_ended)).value for start, end, open_ended in rows)


def far_out_fence(amounts: list[float]) -> float | None:
    """Q3 + 3·IQR of sorted amounts, or None when there are too few to speak of outliers."""
    if len(amounts) < 4:
        return None
    q1, _, q3 = statistics.quantiles(amounts, n=4, method="inclusive")
    return q3 + 3 * (q3 - q1)


def _financial(session: Session, where: list[ColumnElement[bool]], total: int) -> Financial:
    positive = [*where, col(Pledge.financial_usd) > 0]
    amounts = [
        float(a)
        for a in session.exec(select(Pledge.financial_usd).where(*positive).order_by(col(Pledge.financial_usd)))
    ]
    fence = far_out_fence(amounts)
    regular = [a for a in amounts if fence is None or a <= fence]
    flagged = amounts[len(regular) :]
    listed = (
        session.exec(
            select(Pledge.id, Pledge.title, Pledge.financial_usd)
            .where(*positive, col(Pledge.financial_usd) > fence)
            .order_by(col(Pledge.financial_usd).desc(), col(Pledge.id))
            .limit(MAX_LISTED_OUTLIERS)
        ).all()
        if fence is not None
        else []
    )
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
            pledges=[OutlierPledge(id=i, title=t, financial_usd=a) for i, t, a in listed],
        ),
    )


def _compliance(session: Session, where: list[ColumnElement[bool]], by_status: Counter[str]) -> ReportingCompliance:
    last_due = case((col(Pledge.status) == PublicStatus.report_due.value, col(Pledge.cycle) - 1), else_=Pledge.cycle)
    has_report = (
        select(Report.id).where(col(Report.pledge_id) == col(Pledge.id), col(Report.cycle) == last_due).exists()
    )
    considered, with_report = session.exec(
        select(func.count(), func.coalesce(func.sum(case((has_report, 1), else_=0)), 0)).where(
            *where, col(Pledge.status) != PublicStatus.closed.value, last_due >= 1
        )
    ).one()
    delisted = session.exec(
        select(func.count()).where(*where, col(Pledge.closure_reason) == ClosureReason.delisted.value)
    ).one()
    return ReportingCompliance(
        pledges_considered=int(considered),
        with_report=int(with_report),
        share=round(int(with_report) / int(considered), 4) if considered else None,
        report_due=by_status[PublicStatus.report_due.value],
        report_overdue=by_status[PublicStatus.report_overdue.value],
        non_reporting=by_status[PublicStatus.non_reporting.value],
        delisted=int(delisted),
    )


def registry_stats(session: Session, filters: RegistryFilters) -> RegistryStats:
    where = conditions(filters)
    total = int(session.exec(select(func.count()).select_from(Pledge).where(*where)).one())
    by_status = _grouped(session, Pledge.status, where)
    return RegistryStats(
        pledges=total,
        filters=describe(filters),
        by_status=_shares(by_status, total, [s.value for s in PublicStatus]),
        by_sdg=_shares(_grouped_index(session, PledgeSDG, PledgeSDG.sdg, where), total, [str(n) for n in range(1, 18)]),
        by_scope=_shares(_grouped(session, Pledge.geographic_scope, where), total, [s.value for s in GeographicScope]),
        by_region=_shares(_regions(session, where, total), total),
        by_country=_shares(_grouped_index(session, PledgeCountry, PledgeCountry.country, where), total),
        by_organization_type=_shares(
            _grouped(session, Pledge.organization_type, where), total, [t.value for t in OrganizationType]
        ),
        by_pledge_type=_shares(_grouped(session, Pledge.pledge_type, where), total, [t.value for t in PledgeType]),
        by_time_frame=_shares(_time_frames(session, where), total, [f.value for f in TimeFrame]),
        financial=_financial(session, where, total),
        reporting=_compliance(session, where, by_status),
    )
