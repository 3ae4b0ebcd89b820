"""Registry statistics checked against a small registry whose numbers are worked out by hand below."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pledgeflow.core.db import session_for
from pledgeflow.registry.search import RegistryFilters
from pledgeflow.registry.stats import STATS_MAX_AGE, cached_registry_stats
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from workflows.state import ClosureReason, PledgeStatus

ORG = {"name": "Connect Africa Foundation", "type": "foundation", "country": "KEN"}


def _org(kind: str) -> dict[str, str]:
    return {**ORG, "name": f"An {kind} organisation", "type": kind}


def _seed(registry: Registry) -> dict[str, str]:
    def publish(name: str, days: int, usd: float, **kwargs: Any) -> tuple[str, str]:
        kwargs.setdefault("sdg_targets", [])
        kwargs.setdefault("regions", [])
        resources = {"financial_usd": usd, "funding_sources": [], "in_kind": []}
        state = registry.publish(published_at=EPOCH + dt.timedelta(days=days), resources=resources, **kwargs)
        return name, state.pledge_id

    return dict(
        [
            publish("p1", 1, 100_000, cycle=1, report_cycles=(1,), regions=["Eastern Africa"]),
            publish(
                "p2", 2, 200_000, status=PledgeStatus.report_due, cycle=1, sdgs=[4], countries=["UGA"],
                organization=_org("ngo"), pledge_type="policy", end_date="2026-12-31",
            ),
            publish(
                "p3", 3, 300_000, status=PledgeStatus.report_due, cycle=2, report_cycles=(1,), sdgs=[13],
                countries=["KEN", "TZA"], geographic_scope="regional", organization=_org("government"),
                pledge_type="financial", end_date="2030-06-30", regions=["Eastern Africa"],
            ),
            publish(
                "p4", 4, 400_000, status=PledgeStatus.report_overdue, cycle=1, sdgs=[4], countries=[],
                geographic_scope="global", organization=_org("private_sector"), pledge_type="advocacy",
                start_date="2025-01-01", end_date="2035-01-01",
            ),
            publish(
                "p5", 5, 500_000, status=PledgeStatus.non_reporting, cycle=2, report_cycles=(1,), missed_cycles=1,
                sdgs=[9], geographic_scope="local", organization=_org("academia"), end_date=None, open_ended=True,
                regions=["Eastern Africa", "Sahel"],
            ),
            publish(
                "p6", 6, 50_000_000, sdgs=[9, 17], organization=_org("private_sector"), pledge_type="financial",
                end_date="2027-01-01",
            ),
            publish("p7", 7, 0, status=PledgeStatus.closed, closure_reason=ClosureReason.delisted, sdgs=[4]),
            publish("in_review", 8, 9e9, status=PledgeStatus.in_review),
            publish("rejected", 9, 9e9, status=PledgeStatus.closed, closure_reason=ClosureReason.rejected),
        ]
    )  # fmt: skip


def _counts(shares: list[dict[str, Any]]) -> dict[str, int]:
    return {share["key"]: share["count"] for share in shares}


async def test_stats_match_the_hand_computed_registry(registry: Registry) -> None:
    ids = _seed(registry)
    response = await registry.http.get("/api/v1/registry/stats")
    assert response.status_code == 200, response.text
    stats = response.json()

    assert stats["pledges"] == 7  # p1..p7; never-published pledges do not count
    assert _counts(stats["by_status"]) == {
        "published": 2, "report_due": 2, "report_overdue": 1, "non_reporting": 1, "closed": 1,
    }  # fmt: skip
    by_sdg = {share["key"]: share for share in stats["by_sdg"]}
    assert [key for key, share in by_sdg.items() if share["count"]] == ["4", "9", "13", "17"]
    assert (by_sdg["4"]["count"], by_sdg["4"]["share"]) == (4, 0.5714)
    assert (by_sdg["9"]["count"], by_sdg["9"]["share"]) == (3, 0.4286)
    assert by_sdg["1"]["count"] == 0 and len(by_sdg) == 17
    assert _counts(stats["by_scope"]) == {"global": 1, "regional": 1, "subregional": 0, "national": 4, "local": 1}
    assert [(s["key"], s["count"]) for s in stats["by_region"]] == [
        ("unspecified", 4), ("Eastern Africa", 3), ("Sahel", 1),
    ]  # fmt: skip
    assert [(s["key"], s["count"]) for s in stats["by_country"]] == [("KEN", 5), ("TZA", 1), ("UGA", 1)]
    org_types = {key: n for key, n in _counts(stats["by_organization_type"]).items() if n}
    assert org_types == {"foundation": 2, "ngo": 1, "government": 1, "private_sector": 2, "academia": 1}
    assert _counts(stats["by_pledge_type"]) == {"financial": 2, "policy": 1, "programmatic": 3, "advocacy": 1}
    assert _counts(stats["by_time_frame"]) == {
        "up_to_1y": 2, "1_to_3y": 2, "3_to_5y": 1, "over_5y": 1, "open_ended": 1,
    }  # fmt: skip

    money = stats["financial"]
    assert (money["pledges_with_amount"], money["pledges_without_amount"]) == (6, 1)
    assert money["sum_usd"] == 51_500_000
    assert money["median_usd"] == 350_000  # (300k + 400k) / 2
    outliers = money["outliers"]
    # Amounts 100k..500k and 50M: Q1 = 225k, Q3 = 475k, IQR = 250k, fence = 475k + 3 x 250k = 1.225M.
    assert outliers["fence_usd"] == 1_225_000
    assert "Q3 + 3 x IQR" in outliers["rule"]
    assert outliers["count"] == 1
    assert outliers["pledges"] == [
        {"id": ids["p6"], "title": "Connecting 500 rural schools in Kenya by 2027", "financial_usd": 50_000_000}
    ]
    assert outliers["share_of_sum"] == 0.9709
    assert money["sum_without_outliers_usd"] == 1_500_000
    assert money["median_without_outliers_usd"] == 300_000

    # Considered: p1 (cycle 1), p3 (report due for cycle 2, so cycle 1 counts), p4 and p5 (late).
    # With a report for that cycle: p1 and p3; p5 reported cycle 1 but not its last due cycle 2.
    reporting = stats["reporting"]
    assert (reporting["pledges_considered"], reporting["with_report"], reporting["share"]) == (4, 2, 0.5)
    assert (reporting["report_due"], reporting["report_overdue"], reporting["non_reporting"]) == (2, 1, 1)
    assert reporting["delisted"] == 1


async def test_stats_take_the_search_filters(registry: Registry) -> None:
    _seed(registry)
    stats = (await registry.http.get("/api/v1/registry/stats", params={"country": "KEN"})).json()
    assert stats["filters"] == {"country": "KEN"}
    assert stats["pledges"] == 5  # p1, p3, p5, p6, p7
    assert stats["financial"]["sum_usd"] == 50_900_000
    assert stats["financial"]["median_usd"] == 400_000
    assert (await registry.http.get("/api/v1/registry/stats", params={"status": "rejected"})).status_code == 422


async def test_empty_registry_has_zero_stats(registry: Registry) -> None:
    stats = (await registry.http.get("/api/v1/registry/stats")).json()
    assert stats["pledges"] == 0
    assert stats["financial"]["median_usd"] is None and stats["financial"]["outliers"]["count"] == 0
    assert stats["reporting"]["share"] is None


async def test_stats_are_recomputed_at_most_once_a_minute(registry: Registry) -> None:
    registry.publish()
    first = (await registry.http.get("/api/v1/registry/stats")).json()
    registry.publish()
    again = (await registry.http.get("/api/v1/registry/stats")).json()
    assert (again["pledges"], again["computed_at"]) == (1, first["computed_at"])

    with session_for(registry.url) as session:
        later = dt.datetime.now(dt.UTC) + STATS_MAX_AGE
        assert cached_registry_stats(session, RegistryFilters(), later).pledges == 2
