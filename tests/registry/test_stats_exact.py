"""The registry statistics, as computed in SQL over the indexes, equal the same figures worked out plainly in
Python from every covered pledge's row and index rows: for no filter and many filter sets, on SQLite and
PostgreSQL, including a filter set that covers nothing and ones with fewer than four amounts (no fence)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from typing import Any

from sqlmodel import Session, col, select

from pledgeflow.core import db
from pledgeflow.core.models import Pledge, PledgeCountry, PledgeRegion, PledgeSDG
from pledgeflow.registry.facets import TimeFrame
from pledgeflow.registry.public import PublicStatus
from pledgeflow.registry.search import RegistryFilters, conditions
from pledgeflow.registry.seeding import seed_registry
from pledgeflow.registry.stats import MAX_LISTED_OUTLIERS, SDGS, _shares, far_out_fence, registry_stats
from tests.api.registry_seeding import project, registry_url_fixture  # noqa: F401
from workflows.state import ClosureReason, PledgeStatus
from workflows.submission import GeographicScope, OrganizationType, PledgeType

FILTER_SETS = [
    RegistryFilters(),
    RegistryFilters(sdgs=(4,)),
    RegistryFilters(sdgs=(3, 13)),
    RegistryFilters(country="KEN"),
    RegistryFilters(country="ATA"),  # no pledge names it
    RegistryFilters(organization_type=OrganizationType.ngo),
    RegistryFilters(scope=GeographicScope.regional),
    RegistryFilters(statuses=(PublicStatus.report_due, PublicStatus.non_reporting)),
    RegistryFilters(q="rural schools"),
    RegistryFilters(sdgs=(9,), statuses=(PublicStatus.closed,), organization_type=OrganizationType.government),
    *(RegistryFilters(sdgs=(sdg,), country=country) for country in ("KEN", "NGA", "IND", "BRA") for sdg in (1, 4, 9)),
]


def _plain(session: Session, filters: RegistryFilters) -> dict[str, Any]:
    """Every figure of ``RegistryStats`` from the covered pledges' rows, one by one in Python."""
    rows = session.exec(select(Pledge).where(*conditions(filters))).all()
    ids = {row.id for row in rows}
    total = len(rows)

    def index(table: Any, column: str) -> Counter[str]:
        pairs = session.exec(select(table.pledge_id, getattr(table, column))).all()
        return Counter(str(value) for pledge_id, value in pairs if pledge_id in ids)

    named = {pledge_id for pledge_id in session.exec(select(PledgeRegion.pledge_id)).all() if pledge_id in ids}
    regions = index(PledgeRegion, "region")
    if total - len(named):
        regions["unspecified"] = total - len(named)

    def last_due(row: Pledge) -> int:
        return row.cycle - 1 if row.status == PledgeStatus.report_due.value else row.cycle

    considered = [row for row in rows if row.status != PublicStatus.closed.value and last_due(row) >= 1]
    with_report = sum(1 for row in considered if row.reported_last_due)
    by_status = Counter(row.status for row in rows)

    amounts = sorted(row.financial_usd for row in rows if row.financial_usd > 0)
    fence = far_out_fence(amounts)
    regular = [a for a in amounts if fence is None or a <= fence]
    flagged = [a for a in amounts if fence is not None and a > fence]
    largest = sorted(
        (row for row in rows if fence is not None and row.financial_usd > fence),
        key=lambda row: (-row.financial_usd, row.id),
    )[:MAX_LISTED_OUTLIERS]
    total_usd = math.fsum(amounts)

    def shares(counts: Counter[str], keys: Any = None) -> list[dict[str, Any]]:
        return [share.model_dump() for share in _shares(counts, total, keys)]

    return {
        "pledges": total,
        "by_status": shares(by_status, [s.value for s in PublicStatus]),
        "by_sdg": shares(index(PledgeSDG, "sdg"), [str(n) for n in SDGS]),
        "by_scope": shares(Counter(row.geographic_scope for row in rows), [s.value for s in GeographicScope]),
        "by_region": shares(regions),
        "by_country": shares(index(PledgeCountry, "country")),
        "by_organization_type": shares(
            Counter(row.organization_type for row in rows), [t.value for t in OrganizationType]
        ),
        "by_pledge_type": shares(Counter(row.pledge_type for row in rows), [t.value for t in PledgeType]),
        "by_time_frame": shares(Counter(row.time_frame for row in rows), [f.value for f in TimeFrame]),
        "financial": {
            "pledges_with_amount": len(amounts),
            "pledges_without_amount": total - len(amounts),
            "sum_usd": total_usd,
            "median_usd": statistics.median(amounts) if amounts else None,
            "sum_without_outliers_usd": math.fsum(regular),
            "median_without_outliers_usd": statistics.median(regular) if regular else None,
            "fence_usd": fence,
            "outliers": len(flagged),
            "outliers_sum_usd": math.fsum(flagged),
            "share_of_sum": round(math.fsum(flagged) / total_usd, 4) if total_usd else 0.0,
            "largest": [(row.id, row.title, row.financial_usd) for row in largest],
        },
        "reporting": {
            "pledges_considered": len(considered),
            "with_report": with_report,
            "share": round(with_report / len(considered), 4) if considered else None,
            "report_due": by_status[PublicStatus.report_due.value],
            "report_overdue": by_status[PublicStatus.report_overdue.value],
            "non_reporting": by_status[PublicStatus.non_reporting.value],
            "delisted": sum(1 for row in rows if row.closure_reason == ClosureReason.delisted.value),
        },
    }


def _computed(session: Session, filters: RegistryFilters) -> dict[str, Any]:
    stats = registry_stats(session, filters).model_dump()
    money, outliers = stats["financial"], stats["financial"]["outliers"]
    return {
        **{key: value for key, value in stats.items() if key not in ("computed_at", "filters", "note", "financial")},
        "financial": {
            **{key: value for key, value in money.items() if key not in ("currency", "outliers")},
            "fence_usd": outliers["fence_usd"],
            "outliers": outliers["count"],
            "outliers_sum_usd": outliers["sum_usd"],
            "share_of_sum": outliers["share_of_sum"],
            "largest": [(p["id"], p["title"], p["financial_usd"]) for p in outliers["pledges"]],
        },
        "reporting": {key: value for key, value in stats["reporting"].items() if key != "rule"},
    }


def test_stats_equal_the_plain_computation_for_every_filter_set(registry_url: str) -> None:
    seed_registry(registry_url, 400, seed=11)
    project(registry_url, status=PledgeStatus.in_review, sdgs=[4], sdg_targets=[], countries=["KEN"])  # not public
    with db.session_for(registry_url) as session:
        seen_amounts: set[str] = set()
        for filters in FILTER_SETS:
            expected = _plain(session, filters)
            assert _computed(session, filters) == expected, filters
            amounts = expected["financial"]["pledges_with_amount"]
            seen_amounts.add("none" if not amounts else "under 4" if amounts < 4 else "fenced")
            if expected["financial"]["outliers"]:
                seen_amounts.add("outliers")
        empty = registry_stats(session, RegistryFilters(country="ATA"))
        assert empty.pledges == 0 and empty.financial.median_usd is None
        assert session.exec(select(Pledge.id).where(col(Pledge.status) == PledgeStatus.in_review.value)).first()
    assert seen_amounts == {"none", "under 4", "fenced", "outliers"}  # every branch of the financial figures
