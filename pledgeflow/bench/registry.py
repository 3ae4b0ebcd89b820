"""Registry search over HTTP at N published pledges: the real app under uvicorn, on SQLite and PostgreSQL.

Each database is seeded through the projection's code (``seeding.seed_registry``), then every query is
timed as a client sees it: request sent to last byte read. ``/stats`` keeps each filter set's figures for a
minute, so its filtered samples each use a filter set of their own (each is computed for its request) and
the unfiltered figure is the first request's (computed; the later ones are the minute's cache, reported
beside it). Exports are timed whole, and counted to prove every pledge came.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from pledgeflow.bench import servers
from pledgeflow.bench.figures import Goal, Part
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.registry import seeding
from pledgeflow.registry.seeding import seed_registry

API = "/api/v1/registry"
SEARCH_GOAL_MS = 20
STATS_GOAL_MS = 200
EXPORT_GOAL_S = 10
PAGE = 100  # the largest page, to reach a deep cursor in few requests
DEEP_PAGES = 50  # how far down the deep cursor is (at most halfway through the registry)
TEXT_MATCH = seeding.SUBJECTS[0]  # one subject of 15: some titles and descriptions carry it
COMMON_TEXT = seeding.ACTIONS[1][0]  # one action of 8: the listing's order, not the matches, is walked
NO_MATCH = "zyzzogeton"  # a word no seeded pledge carries
SEARCHES: dict[str, dict[str, Any]] = {
    "first page": {},
    "filter sdg": {"sdg": 7},
    "filter country": {"country": "KEN"},
    "filter organization_type": {"organization_type": "ngo"},
    "filter scope": {"scope": "national"},
    "filter status": {"status": "report_overdue"},
    "text match": {"q": TEXT_MATCH},
    "common text": {"q": COMMON_TEXT},
    "no match": {"q": NO_MATCH},
}


async def _timed(http: httpx.AsyncClient, path: str, params: Any = None) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    response = await http.get(path, params=params)
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return elapsed, response


async def _samples(http: httpx.AsyncClient, path: str, params: Any, count: int) -> list[float]:
    await http.get(path, params=params)  # warm: the first connection, the database's pages
    return [(await _timed(http, path, params))[0] for _ in range(count)]


async def _deep_cursor(http: httpx.AsyncClient, pledges_count: int) -> str:
    cursor = None
    for _ in range(max(1, min(DEEP_PAGES, pledges_count // PAGE // 2))):
        params: dict[str, Any] = {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
        cursor = (await http.get(f"{API}/pledges", params=params)).json()["next_cursor"]
    if cursor is None:
        raise RuntimeError("the registry ran out of pages before the deep cursor")
    return str(cursor)


def _stats_filters(count: int) -> Sequence[dict[str, Any]]:
    """A filter set of its own for each sample, so none is answered from the minute's cache."""
    combos = [{"sdg": sdg, "country": country} for country in seeding.COUNTRIES for sdg in range(1, 18)]
    if count > len(combos):
        raise ValueError(f"at most {len(combos)} /stats samples")
    return combos[:count]


async def measure(part: Part, db_name: str, base_url: str, scale: Scale) -> None:
    samples = scale.registry_samples
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
        for name, params in SEARCHES.items():
            timings = await _samples(http, f"{API}/pledges", params, samples)
            part.add_latencies(f"{db_name} {name}", timings, SEARCH_GOAL_MS)
        cursor = await _deep_cursor(http, scale.registry_pledges)
        part.add_latencies(
            f"{db_name} deep cursor page",
            await _samples(http, f"{API}/pledges", {"cursor": cursor}, samples),
            SEARCH_GOAL_MS,
        )

        began = dt.datetime.now(dt.UTC)
        first, response = await _timed(http, f"{API}/stats")
        if dt.datetime.fromisoformat(response.json()["computed_at"]) < began:
            raise RuntimeError("/stats answered from a cache the bench did not fill")
        part.add(f"{db_name} stats, no filter, computed", first * 1000, "ms", Goal("<=", STATS_GOAL_MS))
        part.add_latencies(f"{db_name} stats, no filter, cached", await _samples(http, f"{API}/stats", None, samples))
        filtered = [(await _timed(http, f"{API}/stats", params))[0] for params in _stats_filters(samples)]
        part.add_latencies(f"{db_name} stats, sdg + country, computed", filtered, STATS_GOAL_MS)

        for fmt in ("json", "csv"):
            elapsed, response = await _timed(http, f"{API}/export.{fmt}")
            rows = len(response.json()) if fmt == "json" else sum(1 for _ in csv.reader(io.StringIO(response.text))) - 1
            if rows != scale.registry_pledges:
                raise RuntimeError(f"export.{fmt} on {db_name} has {rows} pledges, not {scale.registry_pledges}")
            part.details[f"{db_name}_export_{fmt}_bytes"] = len(response.content)
            part.add(f"{db_name} export.{fmt}, all pledges", elapsed, "s", Goal("<=", EXPORT_GOAL_S))


async def run(scale: Scale, progress: Progress, keep: Path | None = None) -> Part:
    part = Part("registry")
    part.details = {"pledges": scale.registry_pledges, "samples_per_query": scale.registry_samples}
    for db_name in scale.databases:
        folder = scale.folder / f"registry-{db_name}"
        folder.mkdir(parents=True, exist_ok=True)
        with servers.scratch_database(db_name, folder, scale.postgres_url) as url:
            progress(f"registry: seeding {scale.registry_pledges:,} pledges on {db_name}")
            began = time.perf_counter()
            seed_registry(url, scale.registry_pledges, scale.seed)
            part.details[f"{db_name}_seed_seconds"] = round(time.perf_counter() - began, 1)
            settings = servers.bench_settings(folder, url, public_base_url="https://registry.example.org")
            progress(f"registry: queries on {db_name}")
            async with servers.api_server(settings) as base_url:
                await measure(part, db_name, base_url, scale)
        if db_name == "sqlite" and keep is not None:
            await asyncio.to_thread(_keep, folder / "registry.sqlite", keep)
    return part


def _keep(registry: Path, keep: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(registry, keep / "registry.sqlite")
