"""Bulk seeding (``seed_registry``) writes published pledges through the projection's own write path:
everything the registry shows of a pledge is there, the data is varied enough for filters to select, and
the same seed gives the same registry."""

from __future__ import annotations

from sqlmodel import col, func, select

from pledgeflow.core import db
from pledgeflow.core.models import Pledge, PledgeDocument, PledgeSDG, Report, TimelineEntry
from pledgeflow.registry import search
from pledgeflow.registry.search import RegistryFilters
from pledgeflow.registry.seeding import seed_registry
from pledgeflow.registry.stats import registry_stats
from tests.api.registry_seeding import registry_url_fixture  # noqa: F401

N = 240


def test_seeded_pledges_are_public_varied_and_complete(registry_url: str) -> None:
    batches: list[int] = []
    assert seed_registry(registry_url, N, seed=7, batch=100, on_batch=batches.append) == N
    assert batches == [100, 200, 240]
    with db.session_for(registry_url) as session:
        assert session.exec(select(func.count()).select_from(Pledge)).one() == N
        for table in (PledgeDocument, TimelineEntry):  # what the projection writes besides the row
            covered = select(func.count(func.distinct(col(table.pledge_id))))
            assert session.exec(covered).one() == N
        assert session.exec(select(func.count()).select_from(Report)).one() > N // 2
        stats = registry_stats(session, RegistryFilters())
        assert stats.pledges == N  # all of them public
        by_sdg = {share.key: share.count for share in stats.by_sdg}
        assert all(0 < count < N // 2 for count in by_sdg.values()), by_sdg  # every SDG, none everywhere
        assert sum(1 for share in stats.by_status if share.count) >= 4
        assert sum(1 for share in stats.by_organization_type if share.count) == 9
        assert len(stats.by_country) > 20 and len(stats.by_region) > 5
        assert 0 < stats.financial.pledges_with_amount < N
        per_pledge = select(PledgeSDG.pledge_id, func.count()).group_by(col(PledgeSDG.pledge_id))
        assert len({count for _, count in session.exec(per_pledge).all()}) > 1  # one SDG or several
        title = session.exec(select(Pledge.title)).first()
        assert title is not None
        rows, _ = search.search(session, search.CursorCodec(b"k" * 32), RegistryFilters(q=title.upper()), 100, None)
        assert title in {row.title for row in rows}


def test_the_same_seed_gives_the_same_registry(registry_url: str) -> None:
    seed_registry(registry_url, 30, seed=3)
    with db.session_for(registry_url) as session:
        first = session.exec(select(Pledge.id, Pledge.title, Pledge.financial_usd).order_by(col(Pledge.id))).all()
    seed_registry(registry_url, 30, seed=3)  # rewrites the same pledges: nothing added
    with db.session_for(registry_url) as session:
        again = session.exec(select(Pledge.id, Pledge.title, Pledge.financial_usd).order_by(col(Pledge.id))).all()
        events = session.exec(select(func.count()).select_from(TimelineEntry)).one()
    assert again == first and len(first) == 30
    assert events == 60  # two per pledge, not written twice
