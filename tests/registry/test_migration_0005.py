"""Migration 0005 builds, for pledges already in the registry, what the projection now writes: the search
text and its index, region index rows, the listing's sort key on the index rows, the time frame, the
reporting flag and the export records; and on PostgreSQL it makes the submission JSONB. Then the registry
answers from them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlmodel import select

from pledgeflow.core import db
from pledgeflow.core.models import Pledge, PledgeCountry, PledgeRegion, PledgeSDG
from pledgeflow.registry import search
from pledgeflow.registry.public import public_pledge
from pledgeflow.registry.records import Links
from pledgeflow.registry.search import RegistryFilters
from pledgeflow.registry.stats import registry_stats
from tests.factories import make_submission

T0 = dt.datetime(2024, 3, 2, 9, 0, tzinfo=dt.UTC)


def _pledge(pledge_id: str, status: str, cycle: int, **submission: Any) -> dict[str, Any]:
    data = make_submission(**submission)
    return {
        "id": pledge_id,
        "title": data.title,
        "status": status,
        "pledge_type": data.pledge_type.value,
        "organization_name": data.organization.name,
        "organization_type": data.organization.type.value,
        "organization_country": data.organization.country,
        "geographic_scope": data.geographic_scope.value,
        "financial_usd": data.resources.financial_usd,
        "start_date": data.start_date,
        "end_date": data.end_date,
        "open_ended": data.open_ended,
        "submission": data.model_dump(mode="json"),
        "submission_version": 1,
        "submitted_at": T0,
        "review_started_at": T0,
        "published_at": T0 + dt.timedelta(days=int(pledge_id[-1])),
        "cycle": cycle,
        "missed_cycles": 0,
        "token_version": 1,
        "updated_at": T0,
    }


def test_0005_builds_search_text_regions_sort_keys_and_facets_for_existing_pledges(empty_database_url: str) -> None:
    db.upgrade(empty_database_url, "0004")
    engine = db.engine_for(empty_database_url)
    tables = sa.MetaData()
    tables.reflect(engine, only=["pledge", "pledgesdg", "pledgecountry", "report"])
    ocean = _pledge(
        "PF-OCEAN1", "report_due", 2, title="Protecting 30% of coastal waters", sdgs=[14], sdg_targets=[],
        regions=["West Africa", "Sahel"], partners=[{"name": "Fisherfolk Cooperative of Joal", "type": "ngo"}],
        start_date="2024-01-01", end_date="2024-12-31", countries=["SEN"],
    )  # fmt: skip
    schools = _pledge("PF-SCHOOL2", "published", 1, open_ended=True, end_date=None)
    waiting = {**_pledge("PF-REVIEW3", "in_review", 0), "published_at": None}
    with engine.begin() as connection:
        connection.execute(tables.tables["pledge"].insert(), [ocean, schools, waiting])
        connection.execute(
            tables.tables["pledgesdg"].insert(),
            [{"pledge_id": "PF-OCEAN1", "sdg": 14}, {"pledge_id": "PF-SCHOOL2", "sdg": 4}],
        )
        connection.execute(tables.tables["pledgecountry"].insert(), [{"pledge_id": "PF-OCEAN1", "country": "SEN"}])
        report = {"received_at": T0, "source": "form", "final": False, "progress": "on_track", "narrative": "x" * 20}
        connection.execute(
            tables.tables["report"].insert(),
            [  # the ocean pledge reported its last due cycle (1: cycle 2 is still due); the schools did not
                {**report, "pledge_id": "PF-OCEAN1", "cycle": 1, "details": {}},
                {**report, "pledge_id": "PF-SCHOOL2", "cycle": 0, "details": {}},
            ],
        )

    db.upgrade(empty_database_url)

    with db.session_for(empty_database_url) as session:
        pledges = {p.id: p for p in session.exec(select(Pledge))}
        assert {i: (p.time_frame, p.reported_last_due) for i, p in pledges.items()} == {
            "PF-OCEAN1": ("up_to_1y", True),
            "PF-SCHOOL2": ("open_ended", False),
            "PF-REVIEW3": ("1_to_3y", False),
        }
        links = Links("https://registry.example")
        for pledge in (pledges["PF-OCEAN1"], pledges["PF-SCHOOL2"]):
            assert pledge.public_json is not None and pledge.public_csv is not None
            shown = json.loads(links.json_record(pledge.id, pledge.public_json))
            assert shown == public_pledge(pledge, "https://registry.example").model_dump(mode="json")
            line = next(csv.reader(io.StringIO(links.csv_line(pledge.id, pledge.public_csv))))
            assert line[:2] == [pledge.id, pledge.title] and line[-2:] == [shown["links"]["page"], shown["description"]]
        assert (pledges["PF-REVIEW3"].public_json, pledges["PF-REVIEW3"].public_csv) == (None, None)
        assert sorted((r.pledge_id, r.region) for r in session.exec(select(PledgeRegion))) == [
            ("PF-OCEAN1", "Sahel"),
            ("PF-OCEAN1", "West Africa"),
        ]
        for table in (PledgeSDG, PledgeCountry, PledgeRegion):
            for row in session.exec(select(table)):
                assert row.published_at == pledges[row.pledge_id].published_at
        for q, found in (("COASTAL", ["PF-OCEAN1"]), ("fisherfolk", ["PF-OCEAN1"]), ("100%_", [])):
            rows, _ = search.search(session, search.CursorCodec(b"k" * 32), RegistryFilters(q=q), 10, None)
            assert [row.id for row in rows] == found, q
        stats = registry_stats(session, RegistryFilters())
        assert {share.key: share.count for share in stats.by_region} == {"Sahel": 1, "West Africa": 1, "unspecified": 1}
        assert stats.reporting.pledges_considered == 2 and stats.reporting.with_report == 1
        if session.get_bind().dialect.name == "postgresql":
            kind = session.execute(sa.text("SELECT jsonb_typeof(submission) FROM pledge LIMIT 1")).scalar_one()
            assert kind == "object"
    db.engine_for(empty_database_url).dispose()


def test_0005_downgrades_to_0004_and_back(empty_database_url: str) -> None:
    db.upgrade(empty_database_url)
    command.downgrade(db.alembic_config(empty_database_url), "0004")
    inspector = sa.inspect(db.engine_for(empty_database_url))
    assert "pledgedocument" not in inspector.get_table_names()
    assert "time_frame" not in {column["name"] for column in inspector.get_columns("pledge")}
    db.upgrade(empty_database_url)
    db.engine_for(empty_database_url).dispose()
