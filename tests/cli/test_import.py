"""``pledgeflow import`` as an operator runs it: a file with pledges at every point of the ladder, on the dev server
with the real workers, registry database and SMTP sink (docs/import.md)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import signal
import subprocess
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from temporalio.client import Client
from typer.testing import CliRunner, Result

from pledgeflow.cli.main import app
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge
from pledgeflow.operations.importing import CSV_COLUMNS
from tests.cli.conftest import PLEDGEFLOW, clean_env
from tests.conftest import Stack
from tests.factories import report_data, submission_data
from workflows.state import WORKFLOW_TYPE

DAY = dt.timedelta(days=1)
YEAR = 365 * DAY


def env_for(stack: Stack) -> dict[str, str]:
    settings = stack.settings
    return clean_env(
        temporal_address=stack.client.service_client.config.target_host,
        task_queue=settings.task_queue,
        email_task_queue=settings.email_task_queue,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        home=str(settings.home),
    ) | {"COLUMNS": "200"}


async def pledgeflow_import(stack: Stack, *args: str) -> Result:
    # The command runs its own event loop (asyncio.run), so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, app, ["import", *args], env=env_for(stack))


def line(title: str, **history: Any) -> dict[str, Any]:
    at = {key: value.isoformat() for key, value in history.items() if isinstance(value, dt.datetime)}
    return submission_data(title=title) | history | at


def ago(days: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def registry_rows(stack: Stack, titles: list[str]) -> dict[str, Pledge]:
    with session_for(stack.settings.database_url) as session:
        rows = session.exec(select(Pledge).where(col(Pledge.title).in_(titles))).all()
    return {row.title: row for row in rows}


async def wait_for_rows(stack: Stack, titles: list[str], timeout: float = 60) -> dict[str, Pledge]:
    """The registry rows of these pledges once each has been projected (the workers run them after the import)."""
    async with asyncio.timeout(timeout):
        while len(rows := registry_rows(stack, titles)) < len(titles):
            await asyncio.sleep(0.2)
    return rows


async def workflows_on(client: Client, task_queue: str) -> int:
    """Pledges on the queue: their current runs, one each."""
    query = f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{task_queue}' AND ExecutionStatus != 'ContinuedAsNew'"
    return (await client.count_workflows(query)).count


async def settled_count(client: Client, task_queue: str, expected: int, timeout: float = 30) -> int:
    """The number of the queue's workflows once visibility (eventually consistent) has them all."""
    async with asyncio.timeout(timeout):
        while await workflows_on(client, task_queue) < expected:
            await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # nothing more arrives
    return await workflows_on(client, task_queue)


LADDER = {
    "Fresh pledge, just submitted": {},
    "In review for three weeks": {"submitted_at": ago(21)},
    "Published three years ago, never reported": {"published_at": ago(3 * 365), "external_id": "old-7"},
    "Published three years ago, last report two years ago": {
        "published_at": ago(3 * 365),
        "last_report_at": ago(2 * 365),
    },
    "Reported last year, in its second cycle": {
        "published_at": ago(400),
        "reports": [{**report_data(), "received_at": ago(30).isoformat()}],
    },
    "Completed in the earlier registry": {"published_at": ago(800), "status": "closed", "closure_reason": "completed"},
}
LANDS = {
    "Fresh pledge, just submitted": ("in_review", None, 0),
    "In review for three weeks": ("in_review", None, 0),
    "Published three years ago, never reported": ("closed", "delisted", 1),
    "Published three years ago, last report two years ago": ("non_reporting", None, 2),
    "Reported last year, in its second cycle": ("published", None, 2),
    "Completed in the earlier registry": ("closed", "completed", 1),
}


async def test_a_file_lands_each_pledge_as_the_policy_says_without_email_and_a_second_run_adds_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    good = [line(title, **history) for title, history in LADDER.items()]
    bad = [
        "{not json",
        json.dumps(submission_data(title="Hi", organization={"name": "X", "type": "ngo", "country": "kenya"})),
        json.dumps(line("Closed without a reason", published_at=ago(10), status="closed")),
        json.dumps(line("Published next year", submitted_at=ago(10), published_at=ago(-365))),
    ]
    lines = [json.dumps(good[0]), bad[0], *map(json.dumps, good[1:4]), bad[1], json.dumps(good[4]), *bad[2:]]
    lines.insert(3, "")  # a blank line is skipped, and still counted in the line numbers
    lines.append(json.dumps(good[5]))
    source = tmp_path / "registry.jsonl"
    source.write_text("\n".join(lines) + "\n")

    checked = await pledgeflow_import(stack, str(source), "--check")
    assert checked.exit_code == 1 and "6 of 10 line(s) valid" in checked.output
    assert await workflows_on(stack.client, stack.settings.task_queue) == 0, "--check starts nothing"

    result = await pledgeflow_import(stack, str(source))
    assert result.exit_code == 1, result.output
    assert "imported 6, already there 0, rejected 4, failed 0" in result.output

    report = [json.loads(text) for text in (tmp_path / "registry.jsonl.rejected.jsonl").read_text().splitlines()]
    assert [entry["line"] for entry in report] == [2, 7, 9, 10]
    fields = [{error["field"] for error in entry["errors"]} for entry in report]
    assert fields == [{"line"}, {"title", "organization.country"}, {"closure_reason"}, {"published_at"}]
    assert report[0]["input"] == "{not json" and "not JSON" in report[0]["errors"][0]["message"]
    assert report[3]["errors"] == [{"field": "published_at", "message": "in the future"}]

    rows = await wait_for_rows(stack, list(LADDER))
    for title, (status, reason, cycle) in LANDS.items():
        row = rows[title]
        assert (row.status, row.closure_reason, row.cycle) == (status, reason, cycle), title
    assert rows["Reported last year, in its second cycle"].last_report_at is not None
    await asyncio.sleep(1)  # any email would be on its way by now
    assert stack.smtp.messages == [], "nothing emailed for what had passed"
    pledges = await settled_count(stack.client, stack.settings.task_queue, 6)

    again = await pledgeflow_import(stack, str(source))
    assert again.exit_code == 1
    assert "imported 0, already there 6, rejected 4, failed 0" in again.output
    assert await settled_count(stack.client, stack.settings.task_queue, 6) == pledges == 6
    assert stack.smtp.messages == []


async def test_a_csv_with_the_documented_header_imports_and_names_bad_cells(stack: Stack, tmp_path: Path) -> None:
    header = list(CSV_COLUMNS)
    row = {
        "external_id": "p2c-0412",
        "title": "Affordable broadband for 2 million people in Ghana",
        "description": "Subsidised 4G data bundles and community Wi-Fi in 300 districts, with the regulator.",
        "pledge_type": "financial",
        "organization_name": "Ghana Telecom Alliance",
        "organization_type": "private_sector",
        "organization_country": "GHA",
        "focal_point_name": "Kwame Mensah",
        "focal_point_email": "kwame@gta.example",
        "partners": "National Communications Authority (government); Rural Wi-Fi Trust (ngo)",
        "sdgs": "9; 10",
        "sdg_targets": "9.c",
        "geographic_scope": "national",
        "countries": "GHA",
        "start_date": "2024-01-01",
        "open_ended": "true",
        "financial_usd": "12000000",
        "deliverables": "1 million people connected (due 2025-12-31); 2 million people connected (due 2027-12-31)",
        "published_at": ago(200).isoformat(),
    }
    broken = {**row, "external_id": "p2c-0413", "deliverables": "no date here", "sdgs": "9; 10"}
    source = tmp_path / "p2c.csv"
    with source.open("w", newline="") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows([row, broken])

    result = await pledgeflow_import(stack, str(source))
    assert result.exit_code == 1, result.output
    assert "imported 1, already there 0, rejected 1" in result.output
    [entry] = [json.loads(text) for text in (tmp_path / "p2c.csv.rejected.jsonl").read_text().splitlines()]
    assert entry["line"] == 3 and entry["errors"][0]["field"] == "deliverables"

    rows = await wait_for_rows(stack, [row["title"]])
    imported = rows[row["title"]]
    assert (imported.status, imported.financial_usd, imported.cycle) == ("published", 12_000_000, 1)
    assert imported.submission["partners"][1] == {"name": "Rural Wi-Fi Trust", "type": "ngo"}

    unknown = tmp_path / "other.csv"
    unknown.write_text("title,colour\nA pledge,blue\n")
    refused = await pledgeflow_import(stack, str(unknown))
    assert refused.exit_code == 2
    assert "unknown column 'colour'" in refused.output and "no column 'description'" in refused.output


async def test_ctrl_c_stops_starting_and_a_second_run_carries_on(stack: Stack, tmp_path: Path) -> None:
    count = 400
    source = tmp_path / "big.jsonl"
    source.write_text(
        "".join(json.dumps(line(f"Pledge number {n:04d}", external_id=f"big-{n}")) + "\n" for n in range(count))
    )
    process = await asyncio.create_subprocess_exec(
        PLEDGEFLOW, "import", str(source), "--concurrency", "4",
        env=env_for(stack), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):  # interrupt once it is well under way
        while await workflows_on(stack.client, stack.settings.task_queue) < 20:
            await asyncio.sleep(0.05)
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 130, stderr
    assert "run the same command again to carry on" in stderr.decode()

    started = await settled_count(stack.client, stack.settings.task_queue, 20)
    assert started < count, "stopped before the end"
    again = await pledgeflow_import(stack, str(source))
    assert again.exit_code == 0, again.output
    assert f"imported {count - started}, already there {started}, rejected 0, failed 0" in again.output
    assert await settled_count(stack.client, stack.settings.task_queue, count) == count
