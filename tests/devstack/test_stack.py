"""``pledgeflow dev`` as a developer runs it: a subprocess with its own ports and home, stopped by signals."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pledgeflow.auth.staff_keys import authenticate
from pledgeflow.core.db import session_for
from tests.cli.conftest import PLEDGEFLOW
from tests.devstack.conftest import DevPorts, cmdline, descendants, running
from tests.factories import submission_data
from workflows.search_attributes import STATUS
from workflows.state import workflow_id

READY_WITHIN = 60.0


def start(env: dict[str, str], cwd: Path, log: Path, started: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603  (our own console script)
            [PLEDGEFLOW, "dev"], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    started.append(process)
    return process


async def wait_ready(http: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until /readyz answered 200 and the banner is printed; fails with the dev log if never.

    The API answers a moment before ``pledgeflow dev`` prints its banner, so both are waited for."""
    began = time.monotonic()
    while time.monotonic() - began < READY_WITHIN:
        if process.poll() is not None:
            pytest.fail(f"pledgeflow dev exited early:\n{await asyncio.to_thread(log.read_text)}")
        try:
            ready = (await http.get("/readyz")).status_code == 200
            if ready and "Staff key" in await asyncio.to_thread(log.read_text):
                return time.monotonic() - began
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    pytest.fail(f"/readyz did not answer 200 within {READY_WITHIN:.0f}s:\n{await asyncio.to_thread(log.read_text)}")


def received_mail(mails: list[dict[str, Any]], pledge_id: str) -> list[dict[str, Any]]:
    """The pledger's "submission received" email(s) about this pledge."""
    return [
        mail
        for mail in mails
        if pledge_id in (mail["text"] or "")
        and mail["to"] == ["amina@connect-africa.example"]
        and "received" in mail["subject"]
    ]


async def wait_for_received(http: httpx.AsyncClient, pledge_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            if found := received_mail((await http.get("/dev/mail.json")).json(), pledge_id):
                return found
            await asyncio.sleep(0.3)


def stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> set[int]:
    """Signal the dev process, wait for it, and return the pids that were below it."""
    below = descendants(process.pid)
    assert any("start-dev" in cmdline(pid) for pid in below), "the Temporal dev server is not a child"
    process.send_signal(sig)
    assert process.wait(timeout=30) == 0
    return below


def staff_key(log: Path) -> str:
    match = re.search(r"Staff key\s+(pfs_\S+)", log.read_text())
    assert match, log.read_text()
    return match.group(1)


async def test_dev_runs_the_stack_stops_cleanly_and_keeps_state(
    tmp_path: Path, dev_ports: DevPorts, started: list[subprocess.Popen[bytes]]
) -> None:
    home = tmp_path / "home"
    env = dev_ports.env(home)
    base_url = f"http://localhost:{dev_ports.api}"
    first_log = tmp_path / "first.log"
    first = start(env, tmp_path, first_log, started)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        await wait_ready(http, first, first_log)
        banner = first_log.read_text()
        for url in (base_url, f"{base_url}/docs", f"{base_url}/dev/mail", f"http://localhost:{dev_ports.temporal_ui}"):
            assert url in banner
        ui = await http.get(f"http://127.0.0.1:{dev_ports.temporal_ui}/")
        assert ui.status_code == 200
        for smtp_port in (dev_ports.smtp, dev_ports.inbound):
            reader, writer = await asyncio.open_connection("127.0.0.1", smtp_port)
            assert (await reader.readline()).startswith(b"220 "), f"no SMTP greeting on {smtp_port}"
            writer.close()

        response = await http.post("/api/v1/pledges", json=submission_data())
        assert response.status_code == 202, response.text
        pledge = response.json()

        temporal = await Client.connect(f"localhost:{dev_ports.temporal}", data_converter=pydantic_data_converter)
        description = await temporal.get_workflow_handle(workflow_id(pledge["id"])).describe()
        assert description.typed_search_attributes.get(STATUS) == "in_review"

        [received] = await wait_for_received(http, pledge["id"])

    first_key = staff_key(first_log)
    with session_for(f"sqlite:///{home / 'pledgeflow.db'}") as session:
        account = authenticate(session, first_key)
        assert account is not None and account.role == "admin"

    below = stop(first, signal.SIGINT)
    assert not [pid for pid in below if running(pid)], "processes left behind after Ctrl-C"
    # The server's SQLite file was opened in write-ahead-log mode (runner.SQLITE_PRAGMAS), which the file
    # keeps; the server's own default is the rollback journal ("delete").
    with contextlib.closing(sqlite3.connect(home / "temporal.db")) as temporal_db:
        assert temporal_db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    second_log = tmp_path / "second.log"
    second = start(env, tmp_path, second_log, started)
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        await wait_ready(http, second, second_log)
        owner = await http.get(
            f"/api/v1/pledges/{pledge['id']}", headers={"Authorization": f"Bearer {pledge['manage_token']}"}
        )
        assert owner.status_code == 200, owner.text
        assert owner.json()["pledge_id"] == pledge["id"]
        assert owner.json()["submission"]["title"] == submission_data()["title"]
        listed = [wf.id async for wf in temporal.list_workflows(f"WorkflowId = '{workflow_id(pledge['id'])}'")]
        assert listed == [workflow_id(pledge["id"])]
        assert received_mail((await http.get("/dev/mail.json")).json(), pledge["id"]) == [received], "mail lost"
    assert staff_key(second_log) == first_key

    below = stop(second, signal.SIGTERM)
    assert not [pid for pid in below if running(pid)], "processes left behind after SIGTERM"


@pytest.mark.parametrize(
    ("part", "setting"),
    [("api", "PLEDGEFLOW_API_PORT"), ("temporal", "PLEDGEFLOW_TEMPORAL_ADDRESS"), ("smtp", "PLEDGEFLOW_SMTP_PORT")],
)
def test_a_port_in_use_is_one_line_naming_the_setting_and_starts_nothing(
    tmp_path: Path, dev_ports: DevPorts, part: str, setting: str
) -> None:
    home = tmp_path / "home"
    port = getattr(dev_ports, part)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = subprocess.run(  # noqa: S603  (our own console script)
            [PLEDGEFLOW, "dev"], cwd=tmp_path, env=dev_ports.env(home), capture_output=True, text=True, timeout=60
        )
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert f"port {port}" in line and setting in line
    assert not (home / "temporal.db").exists()


def test_an_unknown_policy_preset_is_one_line_and_starts_nothing(tmp_path: Path, dev_ports: DevPorts) -> None:
    home = tmp_path / "home"
    result = subprocess.run(  # noqa: S603  (our own console script)
        [PLEDGEFLOW, "dev", "--policy", "weekly"],
        cwd=tmp_path,
        env=dev_ports.env(home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "unknown policy preset 'weekly'" in line and "default, demo, global_compact" in line
    assert not (home / "temporal.db").exists()
