"""Scrapers' complaint about existing registries: paging that shifts under new entries and misses some.

A walk through the cursor pages, and a full export, while another task keeps publishing through
``project_pledge``, must return every pledge published before the walk began exactly once, and none twice.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import threading
from collections import Counter
from typing import Any

import pytest

from pledgeflow.registry import search as registry_search
from tests.api.registry_seeding import EPOCH, Registry, project, registry_fixture, registry_url_fixture  # noqa: F401
from workflows.state import PledgeStatus

SEEDED = 300


class Publisher:
    """Publishes in a thread until stopped: mostly new pledges (newest of all), some back-dated ones (as an
    import of an older registry does) and status changes of pledges already listed."""

    def __init__(self, url: str, listed: list[str]) -> None:
        self.url = url
        self.listed = listed
        self.published: list[str] = []
        self.changes = 0
        self.stop = threading.Event()

    @property
    def writes(self) -> int:
        return len(self.published) + self.changes

    def run(self) -> None:
        step = 0
        while not self.stop.is_set():
            step += 1
            if step % 3 == 0:
                index = (step * 37) % len(self.listed)
                pledge = {"pledge_id": self.listed[index], "published_at": seeded_at(index)}
                project(self.url, status=PledgeStatus.report_due, cycle=1, **pledge)
                self.changes += 1
                continue
            back_dated = step % 4 == 0
            at = seeded_at(step % SEEDED) + dt.timedelta(seconds=30) if back_dated else dt.datetime.now(dt.UTC)
            self.published.append(project(self.url, published_at=at).pledge_id)


def seeded_at(index: int) -> dt.datetime:
    return EPOCH + dt.timedelta(minutes=index // 2)  # pairs share a publication time: the id breaks the tie


async def _while_publishing(registry: Registry, walk: Any) -> tuple[list[str], list[str], Publisher]:
    before = [project(registry.url, published_at=seeded_at(i)).pledge_id for i in range(SEEDED)]
    publisher = Publisher(registry.url, before)
    running = asyncio.create_task(asyncio.to_thread(publisher.run))
    try:
        seen = await walk(publisher)
    finally:
        publisher.stop.set()
        await running
    return before, seen, publisher


async def _wait_for_writes(publisher: Publisher, more_than: int) -> None:
    async with asyncio.timeout(20):
        while publisher.writes <= more_than:
            await asyncio.sleep(0.005)


def _assert_each_once(before: list[str], seen: list[str]) -> None:
    twice = [pledge_id for pledge_id, n in Counter(seen).items() if n > 1]
    assert twice == [], f"{len(twice)} pledges returned twice"
    missing = set(before) - set(seen)
    assert not missing, f"{len(missing)} pledges published before the walk were missed"


async def test_cursor_walk_returns_every_pledge_once_while_others_publish(registry: Registry) -> None:
    async def walk(publisher: Publisher) -> list[str]:
        seen: list[str] = []
        cursor: str | None = None
        while True:
            writes = publisher.writes
            params = {"limit": 25, **({"cursor": cursor} if cursor else {})}
            response = await registry.http.get("/api/v1/registry/pledges", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return seen
            await _wait_for_writes(publisher, writes)  # at least one publication between any two pages

    before, seen, publisher = await _while_publishing(registry, walk)
    _assert_each_once(before, seen)
    assert publisher.writes >= SEEDED // 25 - 1 and publisher.published and publisher.changes


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_export_returns_every_pledge_once_while_others_publish(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(registry_search, "EXPORT_BATCH", 20)  # 300 pledges: 15 batches, each its own query

    async def walk(publisher: Publisher) -> list[str]:
        await _wait_for_writes(publisher, 0)
        writes = publisher.writes
        response = await registry.http.get(f"/api/v1/registry/export.{fmt}")
        assert response.status_code == 200
        assert publisher.writes > writes, "nothing was published while the export ran"
        if fmt == "csv":
            return [row["id"] for row in csv.DictReader(io.StringIO(response.text))]
        return [pledge["id"] for pledge in response.json()]

    before, seen, _ = await _while_publishing(registry, walk)
    _assert_each_once(before, seen)
