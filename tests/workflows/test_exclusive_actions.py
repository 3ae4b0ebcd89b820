"""Exclusive actions fired at the same pledge at the same time, on the dev server, through the HTTP API.

Two people act on one pledge at once: a vetter approves while another rejects, the pledger withdraws while
staff approve, two reports that each close the pledge, an extension while an operator closes. Each pair is
fired concurrently many times with the worker running, and once more with the worker stopped, so both
updates wait on the server and reach a freshly started worker (no cached workflow) in one activation, where
both validators pass before either handler acts. Whatever the interleaving, the outcome must be one of the
pair's serial orders: an action that would come after the pledge closed (or after the other exclusive
action) is refused with 409 (403 for the same person approving twice), and the timeline and the emails
show the winner only. Every raced pledge's history replays with today's code, and with
``PLEDGEFLOW_RECORD_HISTORIES=1`` the worker-restart round of each pair is recorded for tests/workflows/test_replay.py.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.app import create_app
from pledgeflow.auth.staff_keys import Role
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.worker import workflow_runner
from tests.api.conftest import Submitted, bearer, make_staff, submit
from tests.conftest import SmtpSink, make_settings, run_workers
from tests.factories import report_data
from tests.workflows.histories import HISTORIES, recording, tasks_that_took_an_email_and_did_nothing
from workflows.outbox import EMAIL_TIMEOUT
from workflows.pledge import PledgeWorkflow
from workflows.state import ClosureReason, PledgeState, workflow_id

LIVE_ROUNDS = 12
CLOSURES = {reason.value for reason in ClosureReason}
# What may not happen once the pledge is closed (or, in vetting, once it was decided).
ACTING = {"approved", "approval_recorded", "published", "report_received", "extension_granted", *CLOSURES}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None
    key: str  # who: "pledger" or a staff role

    def credentials(self, pledge: Submitted, staff: dict[Role, str]) -> dict[str, str]:
        return pledge.auth if self.key == "pledger" else bearer(staff[Role(self.key)])


def _decision(decision: str, who: str) -> Call:
    note = None if decision == "approve" else "The deliverables have no dates we can verify."
    return Call("POST", "/api/v1/pledges/{id}/decisions", {"decision": decision, "note": note}, who)


WITHDRAW = Call("POST", "/api/v1/pledges/{id}/withdrawal", {"reason": "Programme cancelled"}, "pledger")
DISCONTINUED = Call("POST", "/api/v1/pledges/{id}/reports", report_data(progress="discontinued"), "pledger")
GRANT = Call("POST", "/api/v1/pledges/{id}/extensions", {"days": 20, "reason": "Audit delayed"}, "operator")
CLOSE = Call("POST", "/api/v1/pledges/{id}/closure", {"reason": "Duplicate of another pledge"}, "operator")


@dataclass(frozen=True)
class Pair:
    first: Call
    second: Call
    published: bool  # act on a published pledge (in its second run), else on one in review
    outcomes: frozenset[tuple[int, int]]  # the serial orders' answers (first, second)
    financial_usd: float = 2_500_000


PAIRS = {
    "approve_reject": Pair(
        _decision("approve", "vetter"), _decision("reject", "admin"), False, frozenset({(201, 409), (409, 201)})
    ),
    # A pledge over USD 10 M needs two people: the same one approving twice counts once.
    "approve_twice": Pair(
        _decision("approve", "vetter"),
        _decision("approve", "vetter"),
        False,
        frozenset({(201, 403), (403, 201)}),
        financial_usd=20_000_000,
    ),
    # Approved, then withdrawn is a serial order too; withdrawn, then approved is not.
    "approve_withdraw": Pair(_decision("approve", "admin"), WITHDRAW, False, frozenset({(201, 200), (409, 200)})),
    "two_reports": Pair(DISCONTINUED, DISCONTINUED, True, frozenset({(201, 409), (409, 201)})),
    "report_withdraw": Pair(DISCONTINUED, WITHDRAW, True, frozenset({(201, 409), (409, 200)})),
    "extension_closure": Pair(GRANT, CLOSE, True, frozenset({(201, 200), (409, 200)})),
}


@dataclass
class Racetrack:
    """The API on the session's dev server, with workers that can be stopped and started again."""

    client: Client
    settings: Settings
    http: httpx.AsyncClient
    staff: dict[Role, str]
    pledges: list[str]

    @asynccontextmanager
    async def workers(self) -> AsyncIterator[None]:
        async with run_workers(self.client, self.settings):
            yield

    async def pledge(self, pair: Pair) -> Submitted:
        pledge = await submit(self.http, resources={"financial_usd": pair.financial_usd, "funding_sources": []})
        self.pledges.append(pledge.id)
        if pair.published:
            approved = await self.http.post(
                f"/api/v1/pledges/{pledge.id}/decisions", json={"decision": "approve"}, headers=self.auth(Role.admin)
            )
            assert approved.status_code == 201, approved.text
            await self.next_run(pledge)
        return pledge

    async def next_run(self, pledge: Submitted) -> None:
        """Wait until the published pledge continued as new: the race then plays in its second run."""
        handle = self.client.get_workflow_handle(workflow_id(pledge.id))
        async with asyncio.timeout(30):
            while True:
                info = (await handle.describe()).raw_description.workflow_execution_info
                if info.execution.run_id != info.first_run_id:
                    return
                await asyncio.sleep(0.1)

    def auth(self, role: Role) -> dict[str, str]:
        return bearer(self.staff[role])

    async def until(self, pledge: Submitted, check: Callable[[PledgeState], bool]) -> PledgeState:
        async with asyncio.timeout(30):
            while True:
                response = await self.http.get(f"/api/v1/pledges/{pledge.id}", headers=self.auth(Role.admin))
                if response.status_code == 200:
                    state = PledgeState.model_validate(response.json())
                    if check(state):
                        return state
                await asyncio.sleep(0.1)

    def send(self, call: Call, pledge: Submitted) -> Awaitable[httpx.Response]:
        return self.http.request(
            call.method,
            call.path.format(id=pledge.id),
            json=call.body,
            headers=call.credentials(pledge, self.staff),
        )

    async def quiet(self, pledge: Submitted) -> PledgeState:
        """The state once the workflow has taken in both actions and sent its emails. A worker stopped for a
        restart round can leave an activity started on the server with nobody to report it: Temporal retries
        it once its start-to-close timeout (an email's, 2 minutes) has passed, so the wait allows for that."""
        handle = self.client.get_workflow_handle(workflow_id(pledge.id))
        async with asyncio.timeout(EMAIL_TIMEOUT.total_seconds() + 30):
            while True:
                description = await handle.describe()
                raw = description.raw_description
                if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                    return await self.until(pledge, lambda _: True)
                await asyncio.sleep(0.1)

    async def histories(self, pledge: Submitted) -> list[WorkflowHistory]:
        """Every run of the pledge, oldest first."""
        histories: list[WorkflowHistory] = []
        runs = [
            execution.run_id
            async for execution in self.client.list_workflows(f"WorkflowId = '{workflow_id(pledge.id)}'")
        ]
        for run in reversed(runs):  # visibility lists the newest run first
            handle = self.client.get_workflow_handle(workflow_id(pledge.id), run_id=run)
            histories.append(await handle.fetch_history())
        return histories


@pytest.fixture(scope="module")
async def racetrack(
    dev_env: WorkflowEnvironment, postgres_url: str, module_smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Racetrack]:
    settings = make_settings(tmp_path_factory.mktemp("race"), postgres_url, module_smtp)
    transport = httpx.ASGITransport(app=create_app(settings, dev_env.client))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as http:
        track = Racetrack(dev_env.client, settings, http, make_staff(postgres_url), [])
        yield track
        for pledge_id in track.pledges:  # default policy: each would wait a year for its report
            with suppress(RPCError):
                await dev_env.client.get_workflow_handle(workflow_id(pledge_id)).terminate(reason="test finished")


def _assert_serial(pair: Pair, codes: tuple[int, int], state: PledgeState) -> None:
    assert codes in pair.outcomes, f"{codes} is no serial order of this pair: {state.timeline}"
    kinds = [event.kind.value for event in state.timeline]
    closed_at = next((index for index, kind in enumerate(kinds) if kind in CLOSURES), None)
    if closed_at is not None:
        assert not ACTING & set(kinds[closed_at + 1 :]), f"acted on a closed pledge: {kinds}"
    if pair is PAIRS["approve_reject"]:
        assert (kinds.count("approved"), kinds.count("rejected")) in {(1, 0), (0, 1)}, kinds
    if pair is PAIRS["approve_twice"]:
        assert len(state.approvals) == 1 and state.status.value == "in_review", state.approvals
    if pair.published:
        assert kinds.count("withdrawn") + kinds.count("removed") == 1, kinds


async def _replays(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(
        workflows=[PledgeWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{history.workflow_id}: {result.replay_failure}"
        assert not tasks_that_took_an_email_and_did_nothing(history), history.workflow_id


def _record(name: str, histories: list[WorkflowHistory]) -> None:
    for stale in HISTORIES.glob(f"race_{name}.*.json"):
        stale.unlink()
    for number, history in enumerate(histories, start=1):
        Path(HISTORIES / f"race_{name}.{number}.json").write_text(history.to_json())


@pytest.mark.parametrize("name", PAIRS)
async def test_exclusive_actions_fired_together_apply_in_a_serial_order(racetrack: Racetrack, name: str) -> None:
    pair = PAIRS[name]
    seen: Counter[tuple[int, int]] = Counter()
    async with racetrack.workers():
        for _ in range(LIVE_ROUNDS):
            pledge = await racetrack.pledge(pair)
            first, second = await asyncio.gather(
                racetrack.send(pair.first, pledge), racetrack.send(pair.second, pledge)
            )
            codes = (first.status_code, second.status_code)
            _assert_serial(pair, codes, await racetrack.quiet(pledge))
            await _replays(await racetrack.histories(pledge))
            seen[codes] += 1
        pledge = await racetrack.pledge(pair)
    # The worker stops: both actions wait on the server, then reach a fresh worker together, where both
    # validators pass in one activation of a workflow the worker has never seen (replayed from history).
    sending = [asyncio.ensure_future(racetrack.send(call, pledge)) for call in (pair.first, pair.second)]
    await asyncio.sleep(1)
    async with racetrack.workers():
        first, second = await asyncio.gather(*sending)
        codes = (first.status_code, second.status_code)
        _assert_serial(pair, codes, await racetrack.quiet(pledge))
        histories = await racetrack.histories(pledge)
    await _replays(histories)
    seen[codes] += 1
    if recording():
        _record(name, histories)
    assert sum(seen.values()) == LIVE_ROUNDS + 1, seen
