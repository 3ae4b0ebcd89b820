"""Open data: the CSV and JSON exports (every public pledge once, in the registry's order) and the Atom feed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET

import pytest

from pledgeflow.registry import search as registry_search
from pledgeflow.registry.export import CSV_COLUMNS
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from workflows.state import ClosureReason, PledgeStatus

ATOM = "{http://www.w3.org/2005/Atom}"
HOSTILE_TITLE = '<img src=x onerror=alert(1)> & "quoted", ok'
HOSTILE_DESCRIPTION = (
    'Line one, with a comma and "quotes".\nLine two: <script>alert(1)</script> & more text to pass fifty.'
)


def _seed(registry: Registry, count: int) -> list[str]:
    """``count`` public pledges (newest first, as the registry lists them) and two that never were."""
    published = [registry.publish(published_at=EPOCH + dt.timedelta(hours=i)).pledge_id for i in range(count - 1)]
    published.append(
        registry.publish(
            published_at=EPOCH + dt.timedelta(days=30),
            title=HOSTILE_TITLE,
            description=HOSTILE_DESCRIPTION,
            status=PledgeStatus.closed,
            closure_reason=ClosureReason.completed,
        ).pledge_id
    )
    registry.publish(status=PledgeStatus.in_review)
    registry.publish(status=PledgeStatus.closed, closure_reason=ClosureReason.rejected)
    return list(reversed(published))


async def _listed_order(registry: Registry) -> list[str]:
    response = await registry.http.get("/api/v1/registry/pledges", params={"limit": 100})
    return [item["id"] for item in response.json()["items"]]


def _xml(document: bytes) -> ET.Element:
    return ET.fromstring(document)  # noqa: S314 - the feed under test, served by this app


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Export batches of 4 so a dozen pledges take several keyset batches (as 100,000 would at 500)."""
    monkeypatch.setattr(registry_search, "EXPORT_BATCH", 4)


@pytest.mark.usefixtures("small_batches")
async def test_csv_export_has_every_public_pledge_once_in_order(registry: Registry) -> None:
    expected = _seed(registry, 13)
    response = await registry.http.get("/api/v1/registry/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]

    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == CSV_COLUMNS
    rows = list(reader)
    assert [row["id"] for row in rows] == expected == await _listed_order(registry)
    hostile = rows[0]
    assert hostile["title"] == HOSTILE_TITLE and hostile["description"] == HOSTILE_DESCRIPTION
    assert (hostile["status"], hostile["traffic_light"], hostile["closure_reason"]) == ("closed", "grey", "completed")
    plain = rows[1]
    assert plain["sdgs"] == "4; 9" and plain["countries"] == "KEN" and plain["partners"] == "Ministry of ICT"
    assert float(plain["financial_usd"]) == 2_500_000
    assert plain["page"] == f"https://registry.example.org/registry/{plain['id']}"


@pytest.mark.usefixtures("small_batches")
async def test_json_export_is_one_array_in_order(registry: Registry) -> None:
    expected = _seed(registry, 9)
    response = await registry.http.get("/api/v1/registry/export.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    pledges = json.loads(response.content)
    assert [pledge["id"] for pledge in pledges] == expected
    assert pledges[0]["title"] == HOSTILE_TITLE
    assert pledges[1]["sdgs"] == [4, 9] and pledges[1]["traffic_light"] == "green"


async def test_json_export_carries_each_pledge_as_the_api_shows_it(registry: Registry) -> None:
    """The export streams records the projection stored; the listing builds the public shape now. They
    agree field for field and in the fields' order, the links (made from the base URL) last."""
    _seed(registry, 5)
    listed = (await registry.http.get("/api/v1/registry/pledges", params={"limit": 100})).json()["items"]
    exported = json.loads((await registry.http.get("/api/v1/registry/export.json")).content)
    assert exported == listed
    assert [list(pledge) for pledge in exported] == [list(pledge) for pledge in listed]


async def test_empty_exports_are_well_formed(registry: Registry) -> None:
    assert json.loads((await registry.http.get("/api/v1/registry/export.json")).content) == []
    rows = list(csv.reader(io.StringIO((await registry.http.get("/api/v1/registry/export.csv")).text)))
    assert rows == [CSV_COLUMNS]
    feed = _xml((await registry.http.get("/api/v1/registry/feed.atom")).content)
    assert feed.findall(f"{ATOM}entry") == []
    assert feed.findtext(f"{ATOM}updated")


async def test_atom_feed_lists_the_newest_publications(registry: Registry) -> None:
    expected = _seed(registry, 5)
    response = await registry.http.get("/api/v1/registry/feed.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    assert b"<img" not in response.content  # escaped, so no reader renders it as markup

    feed = _xml(response.content)
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}id") == "https://registry.example.org/api/v1/registry/feed.atom"
    entries = feed.findall(f"{ATOM}entry")
    assert [entry.findtext(f"{ATOM}id") for entry in entries] == [
        f"https://registry.example.org/registry/{pledge_id}" for pledge_id in expected
    ]
    newest = entries[0]
    assert newest.findtext(f"{ATOM}title") == HOSTILE_TITLE
    assert feed.findtext(f"{ATOM}updated") == newest.findtext(f"{ATOM}updated")
    assert dt.datetime.fromisoformat(newest.findtext(f"{ATOM}updated") or "") == EPOCH + dt.timedelta(days=30)
    for entry in entries:
        link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert link is not None and link.get("href", "").endswith(entry.findtext(f"{ATOM}id", "").rsplit("/", 1)[1])
        assert "Connect Africa Foundation (foundation) pledges for SDG 4, 9 in KEN." in (
            entry.findtext(f"{ATOM}summary") or ""
        )
        assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Connect Africa Foundation"


async def test_csv_cells_that_a_spreadsheet_would_run_are_exported_as_text(registry: Registry) -> None:
    registry.publish(title='=HYPERLINK("http://evil.example","Click")', description="+" + "x" * 60)
    response = await registry.http.get("/api/v1/registry/export.csv")
    [row] = list(csv.DictReader(io.StringIO(response.text)))
    assert row["title"] == '\'=HYPERLINK("http://evil.example","Click")'
    assert row["description"].startswith("'+")
