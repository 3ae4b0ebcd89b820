"""Searching the public registry: what is public, each filter, stable cursor paging and its errors."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import psycopg
import pytest
from sqlalchemy import event

from pledgeflow.core import db
from pledgeflow.core.db import session_for
from pledgeflow.registry import text_search
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from workflows.state import ClosureReason, PledgeStatus

PROBLEM = "application/problem+json"


async def _ids(registry: Registry, **params: Any) -> list[str]:
    response = await registry.http.get("/api/v1/registry/pledges", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    return [item["id"] for item in body["items"]]


async def test_only_pledges_that_were_published_are_public(registry: Registry) -> None:
    at = EPOCH
    shown = {
        status: registry.publish(status=status, published_at=at + dt.timedelta(days=i)).pledge_id
        for i, status in enumerate(
            [PledgeStatus.published, PledgeStatus.report_due, PledgeStatus.report_overdue, PledgeStatus.non_reporting]
        )
    }
    delisted = registry.publish(
        status=PledgeStatus.closed, closure_reason=ClosureReason.delisted, published_at=at + dt.timedelta(days=9)
    ).pledge_id
    never_published = [
        {"status": PledgeStatus.in_review},
        {"status": PledgeStatus.changes_requested},
        {"status": PledgeStatus.closed, "closure_reason": ClosureReason.rejected, "published_at": None},
        {"status": PledgeStatus.closed, "closure_reason": ClosureReason.abandoned, "published_at": None},
    ]
    hidden = [registry.publish(**kwargs).pledge_id for kwargs in never_published]

    response = await registry.http.get("/api/v1/registry/pledges")
    assert response.status_code == 200
    items = {item["id"]: item for item in response.json()["items"]}
    assert set(items) == {*shown.values(), delisted}
    assert not set(hidden) & set(items)
    lights = {items[pledge_id]["traffic_light"] for pledge_id in shown.values()}
    assert [items[shown[s]]["traffic_light"] for s in shown] == ["green", "green", "yellow", "red"]
    assert lights == {"green", "yellow", "red"}
    assert items[delisted]["traffic_light"] == "grey"
    assert items[delisted]["closure_reason"] == "delisted"
    # newest publication first
    assert list(items) == [delisted, *reversed(shown.values())]


async def test_each_filter_narrows(registry: Registry) -> None:
    kenya_schools = registry.publish(published_at=EPOCH).pledge_id
    ocean = registry.publish(
        published_at=EPOCH + dt.timedelta(days=1),
        title="Protecting 30% of coastal waters",
        description="Marine protected areas along the coast of Senegal with fishing communities and local NGOs.",
        organization={"name": "Blue Sea Alliance", "type": "ngo", "country": "SEN"},
        sdgs=[14],
        sdg_targets=[],
        countries=["SEN"],
        geographic_scope="local",
    ).pledge_id
    global_policy = registry.publish(
        published_at=EPOCH + dt.timedelta(days=2),
        title="Open standards for digital public goods",
        organization={"name": "Ministry of Digital Affairs", "type": "government", "country": "EST"},
        sdgs=[9, 17],
        sdg_targets=[],
        countries=[],
        geographic_scope="global",
        status=PledgeStatus.report_overdue,
    ).pledge_id
    everything = {kenya_schools, ocean, global_policy}
    assert set(await _ids(registry)) == everything

    assert await _ids(registry, q="COASTAL") == [ocean]  # title, any case
    assert await _ids(registry, q="fishing communities") == [ocean]  # description
    assert await _ids(registry, q="connect africa") == [kenya_schools]  # organisation
    assert await _ids(registry, q="100%_") == []  # LIKE wildcards are matched literally
    assert await _ids(registry, sdg=14) == [ocean]
    assert set(await _ids(registry, sdg=[4, 17])) == {kenya_schools, global_policy}  # any of
    assert await _ids(registry, country="SEN") == [ocean]
    assert await _ids(registry, country="ken") == [kenya_schools]
    assert await _ids(registry, organization_type="government") == [global_policy]
    assert await _ids(registry, scope="local") == [ocean]
    assert await _ids(registry, status="report_overdue") == [global_policy]
    assert set(await _ids(registry, status=["published", "report_overdue"])) == everything
    assert await _ids(registry, sdg=9, scope="national") == [kenya_schools]  # filters combine


async def test_cursor_walks_every_pledge_once_in_pages_of_limit(registry: Registry) -> None:
    # Two pledges share a publication time: the id breaks the tie, so paging between them is exact.
    published = [registry.publish(published_at=EPOCH + dt.timedelta(hours=i // 2)).pledge_id for i in range(23)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        response = await registry.http.get("/api/v1/registry/pledges", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) == (5 if body["next_cursor"] else 3)
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == set(published)
    published_at = [
        (await registry.http.get(f"/api/v1/registry/pledges/{pledge_id}")).json()["pledge"]["published_at"]
        for pledge_id in seen
    ]
    assert published_at == sorted(published_at, reverse=True)


async def test_bad_paging_input_is_a_problem(registry: Registry) -> None:
    for i in range(3):
        registry.publish(published_at=EPOCH + dt.timedelta(days=i))
    first = (await registry.http.get("/api/v1/registry/pledges", params={"limit": 1})).json()
    cursor = first["next_cursor"]
    assert cursor

    too_many = await registry.http.get("/api/v1/registry/pledges", params={"limit": 101})
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == PROBLEM
    assert too_many.json()["errors"][0]["field"] == "limit"

    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    for bad in (tampered, "not-a-cursor", cursor.upper()):
        response = await registry.http.get("/api/v1/registry/pledges", params={"cursor": bad})
        assert response.status_code == 422, bad
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"] == [{"field": "cursor", "message": response.json()["errors"][0]["message"]}]

    other_filters = await registry.http.get("/api/v1/registry/pledges", params={"cursor": cursor, "sdg": 4})
    assert other_filters.status_code == 422
    assert "other filters" in other_filters.json()["detail"]

    in_review = await registry.http.get("/api/v1/registry/pledges", params={"status": "in_review"})
    assert in_review.status_code == 422
    assert (await registry.http.get("/api/v1/registry/pledges", params={"sdg": 18})).status_code == 422
    nul = await registry.http.get("/api/v1/registry/pledges", params={"q": "schools\x00"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "q"

    follows = await registry.http.get("/api/v1/registry/pledges", params={"limit": 1, "cursor": cursor})
    assert follows.status_code == 200
    assert follows.json()["items"][0]["id"] != first["items"][0]["id"]


async def test_text_search_reads_partners_and_deliverables_and_any_query(registry: Registry) -> None:
    kiosks = registry.publish(
        published_at=EPOCH,
        title='The "Blue" coast: 5G-ready kiosks',
        description="Solar-powered kiosks selling connectivity and mobile data along the coast, run by women fishers.",
        partners=[{"name": "Fisherfolk Cooperative of Joal", "type": "ngo"}],
        deliverables=[{"title": "Solar kiosks in Joal and Mbour", "due_date": "2026-06-30"}],
    ).pledge_id
    schools = registry.publish(published_at=EPOCH + dt.timedelta(days=1)).pledge_id

    assert await _ids(registry, q="FISHERFOLK") == [kiosks]  # a partner
    assert await _ids(registry, q="joal and mbour") == [kiosks]  # a deliverable
    assert await _ids(registry, q='"Blue" coast') == [kiosks]  # quotes are text, not query syntax
    assert await _ids(registry, q="5G") == [kiosks]  # shorter than a trigram
    assert await _ids(registry, q="kiosks Connect") == []  # no match runs from one field into the next
    assert await _ids(registry, q="schools") == [schools]
    assert await _ids(registry, q="zanzibar") == []


async def _walk(registry: Registry, **params: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
        body = (await registry.http.get("/api/v1/registry/pledges", params=page)).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_a_common_text_is_paged_like_a_rare_one(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    schools = [registry.publish(published_at=EPOCH + dt.timedelta(days=i)).pledge_id for i in range(5)]
    ocean = "Marine protected areas along the coast of Senegal with fishing communities."
    reserves = [{"title": "Three marine reserves", "due_date": "2026-12-31"}]
    registry.publish(published_at=EPOCH + dt.timedelta(days=9), title="Coastal waters", description=ocean,
                     deliverables=reserves)  # fmt: skip
    rare = await _walk(registry, q="schools")  # five matches: answered from the matches
    monkeypatch.setattr(text_search, "BROAD_MATCHES", 2)  # now a common text: the order is walked (SQLite)
    with session_for(registry.url) as session:
        assert text_search.is_broad(session, "schools") == (session.get_bind().dialect.name == "sqlite")
    assert await _walk(registry, q="schools") == rare == list(reversed(schools))


async def test_a_common_text_matches_what_a_rare_one_does_in_any_case(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Walking the order checks each document (SQLite's ``pledgeflow_contains``) where a rare text is
    answered from the trigram index: both find the same pledges, whatever the case, accents included."""
    ecoles = [
        registry.publish(
            published_at=EPOCH + dt.timedelta(days=i), title=f"Écoles rurales connectées, lot {i}"
        ).pledge_id
        for i in range(3)
    ]
    registry.publish(published_at=EPOCH + dt.timedelta(days=5))
    queries = ("ÉCOLES", "écoles rurales", "SCHOOLS", "rurales connectées, lot 1")
    rare = {q: await _walk(registry, q=q) for q in queries}
    monkeypatch.setattr(text_search, "BROAD_MATCHES", 1)  # every text is common now: the order is walked
    assert {q: await _walk(registry, q=q) for q in queries} == rare
    with session_for(registry.url) as session:
        if session.get_bind().dialect.name == "sqlite":
            assert rare["ÉCOLES"] == rare["écoles rurales"] == list(reversed(ecoles))


def _in_transaction(dbapi_connection: Any) -> bool:
    """What the database itself says after a statement: a transaction is open on this connection."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        return dbapi_connection.in_transaction
    return bool(dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)


async def test_a_search_page_is_read_outside_a_transaction(registry: Registry) -> None:
    """No BEGIN before a page's statement and so no ROLLBACK after it: on PostgreSQL those were two of a
    page's four round trips (docs/benchmark.md, "registry")."""
    registry.publish(published_at=EPOCH)
    registry.publish(published_at=EPOCH + dt.timedelta(days=1), title="Solar kiosks for coastal schools")
    after_statement: list[bool] = []

    def record(_connection: Any, cursor: Any, *_: Any) -> None:
        after_statement.append(_in_transaction(cursor.connection))

    engine = db.engine_for(registry.url)
    event.listen(engine, "after_cursor_execute", record)
    try:
        for params in ({}, {"q": "kiosks"}, {"q": "schools", "sdg": 4}, {"country": "KEN", "limit": 1}):
            response = await registry.http.get("/api/v1/registry/pledges", params=params)
            assert response.status_code == 200 and response.json()["items"], params
    finally:
        event.remove(engine, "after_cursor_execute", record)
    assert after_statement and not any(after_statement)
