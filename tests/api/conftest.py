"""What the API tests share: staff keys of each role, pledges submitted and moved through the API, bearer headers.

``shared_stack`` is one app + workers + SMTP sink on PostgreSQL for a whole module, for tests (like the
authorisation matrix) that only need pledges of their own and not a fresh database each. Its policy has
a two-second reporting year, so a published pledge reaches ``report_due`` at once; every other step keeps
the default's days, so nothing else happens while a test runs. (Time-based ladder steps are tested on the
time-skipping server in tests/workflows.)
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.auth.staff_keys import Role, add_staff
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge
from pledgeflow.core.settings import Settings
from tests.conftest import SmtpSink, Stack, make_settings, run_workers
from tests.factories import submission_data
from workflows.state import workflow_id


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Submitted:
    id: str
    token: str  # the manage token from the submission response

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.token)


# A published pledge under the two-second year keeps starting cycles (and emailing) until it is stopped:
# every pledge a test submits is stopped when the test ends, so none loads the shared worker afterwards.
_SUBMITTED: list[str] = []


@pytest.fixture(autouse=True)
async def _stop_submitted_pledges(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if _SUBMITTED:
        client = request.getfixturevalue("dev_env").client
        while _SUBMITTED:
            with suppress(RPCError):
                await client.get_workflow_handle(workflow_id(_SUBMITTED.pop())).terminate(reason="test finished")


async def submit(http: httpx.AsyncClient, **overrides: Any) -> Submitted:
    """Submit through the API and return once the workflow has recorded the submission.

    The workflow loads its policy before it records the submission; until then an update can meet a
    pledge without a policy (reported to the lifecycle's owner), so tests act only after that point.
    """
    response = await http.post("/api/v1/pledges", json=submission_data(**overrides))
    assert response.status_code == 202, response.text
    body = response.json()
    _SUBMITTED.append(body["id"])
    pledge = Submitted(id=body["id"], token=body["manage_token"])
    async with asyncio.timeout(15):
        while not (await http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth)).json()["timeline"]:
            await asyncio.sleep(0.05)
    return pledge


async def wait_for_row(database_url: str, pledge_id: str, **expected: Any) -> Pledge:
    """The pledge's registry row once the workflow has projected it (with these column values)."""
    async with asyncio.timeout(20):
        while True:
            with session_for(database_url) as session:
                row = session.exec(select(Pledge).where(Pledge.id == pledge_id)).first()
            if row is not None and all(getattr(row, key) == value for key, value in expected.items()):
                return row
            await asyncio.sleep(0.05)


async def status_of(http: httpx.AsyncClient, pledge: Submitted) -> str:
    response = await http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth)
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def until_status(http: httpx.AsyncClient, pledge: Submitted, status: str, timeout: float = 15) -> None:
    """Wait for the workflow to reach ``status`` (for the steps it takes on its own, like the anniversary)."""
    async with asyncio.timeout(timeout):
        while await status_of(http, pledge) != status:
            await asyncio.sleep(0.1)


async def decide(http: httpx.AsyncClient, pledge: Submitted, key: str, decision: str, note: str | None = None) -> None:
    body = {"decision": decision, "note": note or "Please state the budget per year and the target schools."}
    response = await http.post(f"/api/v1/pledges/{pledge.id}/decisions", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text


async def in_status(stack: Stack, status: str, admin_key: str, asked_for_extension: bool = False) -> Submitted:
    """A new pledge moved through the API to ``status`` (in_review, changes_requested, report_due), where
    the pledger may also have asked for more time."""
    http = stack.http
    pledge = await submit(http)
    if status == "changes_requested":
        await decide(http, pledge, admin_key, "request_changes")
    elif status == "report_due":
        await decide(http, pledge, admin_key, "approve")
        await until_status(http, pledge, status)
    if asked_for_extension:
        reason = {"reason": "Our field survey finishes in six weeks."}
        asked = await http.post(f"/api/v1/pledges/{pledge.id}/extension-requests", json=reason, headers=pledge.auth)
        assert asked.status_code == 201, asked.text
    assert await status_of(http, pledge) == status
    return pledge


def make_staff(database_url: str) -> dict[Role, str]:
    """One key per role, under names unique to this call (the SQLite and PG databases live per session)."""
    suffix = uuid.uuid4().hex[:6]
    with session_for(database_url) as session:
        return {role: add_staff(session, f"{role.value}-{suffix}", role) for role in Role}


@pytest.fixture
def staff_keys(stack: Stack) -> dict[Role, str]:
    return make_staff(stack.settings.database_url)


QUICK_CYCLE_POLICY = 'reporting_interval = "2s"\nearly_report_window = "1s"\n'


@pytest.fixture(scope="module")
async def shared_stack(
    dev_env: WorkflowEnvironment, postgres_url: str, module_smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    home = tmp_path_factory.mktemp("shared")
    policy_file = home / "quick-cycle.toml"
    policy_file.write_text(QUICK_CYCLE_POLICY)
    settings = make_settings(home, postgres_url, module_smtp, policy_file=policy_file)
    async with run_workers(dev_env.client, settings):
        transport = httpx.ASGITransport(app=create_app(settings, dev_env.client))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Stack(settings=settings, client=dev_env.client, http=http, smtp=module_smtp)


@pytest.fixture(scope="module")
def shared_staff(shared_stack: Stack) -> dict[Role, str]:
    return make_staff(shared_stack.settings.database_url)


def unreachable_app(settings: Settings) -> httpx.AsyncClient:
    """An API client for an app without a connected Temporal client (it connects, and fails, on use)."""
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")
