"""``pledgeflow dev --demo`` from a fresh home: a living registry in every status within a minute or two, and a
restart that seeds nothing twice (README, "What make dev gives you")."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pledgeflow.devstack.demo import DEMOS
from tests.cli.conftest import PLEDGEFLOW
from tests.devstack.conftest import DevPorts
from workflows.state import WORKFLOW_TYPE

SEEDED_WITHIN = 120.0
PUBLIC_STATUSES = {"published", "report_due", "report_overdue", "non_reporting", "closed"}
PUBLIC_CLOSURES = {"withdrawn", "removed", "completed", "ended", "delisted"}  # rejected and abandoned never show


async def visible_count(client: Client, query: str, expected: int, within: float = 30.0) -> int:
    """The workflows ``query`` counts, asked again until it says ``expected`` or ``within`` seconds pass.
    Visibility follows the workflows a moment later: a pledge that has just continued as new can show its
    closed run before its new one, one fewer for that moment (a fresh-clone run read 39 of 40)."""
    deadline = time.monotonic() + within
    while True:
        count = (await client.count_workflows(query)).count
        if count == expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.5)


async def run_demo(ports: DevPorts, home: Path, log: Path) -> tuple[asyncio.subprocess.Process, float]:
    """Start ``pledgeflow dev --demo`` and wait for the seeding to end: the process and the seconds it took."""
    with log.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            PLEDGEFLOW, "dev", "--demo", cwd=home.parent, env=ports.env(home), stdout=output, stderr=subprocess.STDOUT
        )
    began = time.monotonic()
    async with asyncio.timeout(SEEDED_WITHIN):
        while "Demo registry ready" not in (text := await asyncio.to_thread(log.read_text)):
            assert process.returncode is None, text
            await asyncio.sleep(0.5)
    assert "not seeded" not in text, text
    return process, time.monotonic() - began


async def stop(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(60):
        await process.wait()


async def public_pledges(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = (await http.get("/api/v1/registry/pledges", params=params)).json()
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]


async def test_the_demo_registry_has_every_status_and_a_restart_adds_nothing(
    dev_ports: DevPorts, tmp_path: Path
) -> None:
    home, log = tmp_path / "home", tmp_path / "dev.log"
    process, seconds = await run_demo(dev_ports, home, log)
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus != 'ContinuedAsNew'"
    try:
        assert seconds < SEEDED_WITHIN
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{dev_ports.api}") as http:
            async with asyncio.timeout(60):  # the last projections land a moment after the seeding returns
                while True:
                    items = await public_pledges(http)
                    statuses = {item["status"] for item in items}
                    reasons = {item["closure_reason"] for item in items if item["status"] == "closed"}
                    if statuses == PUBLIC_STATUSES and reasons == PUBLIC_CLOSURES:
                        break
                    await asyncio.sleep(0.5)
            page = await http.get("/registry")
            assert page.status_code == 200 and "Broadband for 500 rural schools in Kenya" in page.text
        client = await Client.connect(f"localhost:{dev_ports.temporal}", data_converter=pydantic_data_converter)
        first = await visible_count(client, query, len(DEMOS))
        assert first == len(DEMOS)
    finally:
        await stop(process)

    second_log = tmp_path / "dev-again.log"
    again, _ = await run_demo(dev_ports, home, second_log)
    try:
        text = await asyncio.to_thread(second_log.read_text)
        assert f"Demo registry ready: {len(DEMOS)} pledges (0 started or moved on now)" in text
        client = await Client.connect(f"localhost:{dev_ports.temporal}", data_converter=pydantic_data_converter)
        assert await visible_count(client, query, first) == first
    finally:
        await stop(again)
