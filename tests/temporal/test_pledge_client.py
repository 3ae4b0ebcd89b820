"""What each answer of Temporal becomes in the pledge client, on the session's dev server: one error per
meaning, so the API, the pages, ``pledgeflow ops`` and the inbound receiver all read it the same way.

(The validators' four refusals are pinned through the same client by the lifecycle tests in tests/workflows.)
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from api.problems import pledge_problem
from pledgeflow.core import ids
from pledgeflow.core.settings import Settings
from pledgeflow.temporal import pledge_client
from pledgeflow.temporal.pledge_client import (
    ActionRefused,
    PayloadTooLarge,
    PledgeClient,
    PledgeClosed,
    PledgeError,
    PledgeNotFound,
    Refusal,
    TemporalUnavailable,
    WorkersNotAnswering,
    WorkflowTaskFailing,
)
from tests.conftest import SmtpSink, free_port, make_settings, run_workers
from tests.factories import make_report, make_submission
from tests.temporal.older_pledge import older_pledge
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import Mailbox
from workflows.state import EmailReply, PledgeStatus, ReportInput, WithdrawalInput, workflow_id
from workflows.submission import Submission


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return make_settings(tmp_path, sqlite_url)


def _reply() -> EmailReply:
    return EmailReply(
        message_id="<reply@connect-africa.example>",
        sender="amina@connect-africa.example",
        text="We connected 230 schools this year.",
        cycle=1,
        received_at=dt.datetime.now(dt.UTC),
    )


async def test_an_unknown_or_malformed_pledge_id_is_pledge_not_found(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = PledgeClient(settings, dev_env.client)
    for pledge_id in (ids.new_pledge_id(), "PF-0000000", "../../etc"):
        with pytest.raises(PledgeNotFound, match=f"no pledge {pledge_id}"):
            await client.state(pledge_id)
        with pytest.raises(PledgeNotFound):
            await client.withdraw(pledge_id, WithdrawalInput())
        with pytest.raises(PledgeNotFound):
            await client.reply(pledge_id, _reply())


async def test_an_update_the_workflow_does_not_know_is_refused_as_not_allowed_now(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = PledgeClient(settings, dev_env.client)
    async with older_pledge(dev_env.client, PledgeStatus.report_due) as pledge_id:
        with pytest.raises(ActionRefused) as refused:
            await client.withdraw(pledge_id, WithdrawalInput(reason="Programme cancelled"))
    assert (refused.value.reason, refused.value.pledge_status) == (Refusal.not_allowed, "report_due")
    assert refused.value.message == "this action is not available while the pledge is report_due"


async def test_an_action_or_a_reply_reaching_an_ended_workflow_is_pledge_closed(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = PledgeClient(settings, dev_env.client)
    async with older_pledge(dev_env.client) as pledge_id:
        await dev_env.client.get_workflow_handle(workflow_id(pledge_id)).terminate(reason="test: ended")
        with pytest.raises(PledgeClosed, match="the pledge is closed; no further action is possible"):
            await client.withdraw(pledge_id, WithdrawalInput())
        with pytest.raises(PledgeClosed):
            await client.reply(pledge_id, _reply())
        assert (await client.state(pledge_id)).pledge_id == pledge_id  # an ended pledge can still be read


async def test_without_a_worker_on_its_queue_a_pledge_is_workers_not_answering(
    dev_env: WorkflowEnvironment, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pledge_client, "ANSWER_TIMEOUT", 1.0)
    client = PledgeClient(settings, dev_env.client)  # no worker serves this test's task queue
    pledge_id = await client.start(make_submission())
    try:
        with pytest.raises(WorkersNotAnswering):
            await client.state(pledge_id)
        with pytest.raises(WorkersNotAnswering):
            await client.withdraw(pledge_id, WithdrawalInput())
    finally:
        await dev_env.client.get_workflow_handle(workflow_id(pledge_id)).terminate(reason="test finished")


async def test_an_unreachable_server_is_temporal_unavailable(tmp_path: Path, sqlite_url: str) -> None:
    client = PledgeClient(make_settings(tmp_path, sqlite_url, temporal_address=f"127.0.0.1:{free_port()}"))
    with pytest.raises(TemporalUnavailable, match="Temporal is unreachable"):
        await client.start(make_submission())
    with pytest.raises(TemporalUnavailable):
        await client.state(ids.new_pledge_id())


def _oversized(size: int) -> Submission:
    """A submission of about ``size`` bytes, built past the model's list bounds as no door would let in."""
    submission = make_submission()
    return submission.model_copy(update={"regions": ["R" * 190] * (size // 192)})


@pytest.mark.parametrize("size", [2_700_000, 6_300_000])
async def test_a_submission_too_large_for_a_history_is_payload_too_large_never_unreachable(
    dev_env: WorkflowEnvironment, settings: Settings, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = PledgeClient(settings, dev_env.client)
    with pytest.raises(PayloadTooLarge):
        await client.start(_oversized(size))
    # Where the server's limits are the lower ones (2 MB per payload, 4 MB per message), its refusal
    # (INVALID_ARGUMENT, RESOURCE_EXHAUSTED) means the same.
    monkeypatch.setattr(client, "max_payload_bytes", 100_000_000)
    with pytest.raises(PayloadTooLarge):
        await client.start(_oversized(size))


async def test_an_action_too_large_for_a_history_is_refused_before_it_can_jam_the_pledge(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    """The server would admit such an update, and the worker could then not complete its workflow task
    (PayloadsTooLarge, retried for ever): the pledge stuck. The client refuses it first."""
    settings = make_settings(tmp_path, sqlite_url, smtp_sink)
    client = PledgeClient(settings, dev_env.client)
    async with run_workers(dev_env.client, settings):
        pledge_id = await client.start(make_submission())
        huge = make_report().model_copy(update={"links": ["https://example.org/" + "x" * 200] * 14_000})
        with pytest.raises(PayloadTooLarge):
            await client.report(pledge_id, ReportInput(report=huge, source="api"))
        withdrawn = await client.withdraw(pledge_id, WithdrawalInput(reason="still answers"))
        assert withdrawn.status == PledgeStatus.closed


async def test_a_pledge_whose_workflow_task_is_failing_is_workflow_task_failing_and_a_503_to_retry(
    dev_env: WorkflowEnvironment, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workflow task that fails (here: a policy the workflow cannot read) is retried by the server until it
    passes. While a retry waits, the server answers a query FAILED_PRECONDITION ("workflow task in failed
    state"), once a 500: it is WorkflowTaskFailing, a 503 to retry. (While a retry runs, the query waits for a
    worker that never answers it: WorkersNotAnswering, a 503 too.)"""
    monkeypatch.setattr(pledge_client, "ANSWER_TIMEOUT", 2.0)

    @activity.defn(name="load_policy")
    def unreadable_policy() -> dict[str, str]:
        return {"policy": "not a policy"}

    async with run_pledge_worker(dev_env, settings, Mailbox(), load_policy=unreadable_policy) as pledges:
        pledge_id = await pledges.pledge_client.start(make_submission())
        handle = dev_env.client.get_workflow_handle(workflow_id(pledge_id))
        answers: list[type[PledgeError]] = []
        try:
            async with asyncio.timeout(90):
                while WorkflowTaskFailing not in answers:
                    try:
                        await pledges.pledge_client.state(pledge_id)
                    except (WorkersNotAnswering, WorkflowTaskFailing) as error:
                        answers.append(type(error))
                        last = error
                    await asyncio.sleep(0.5)
            problem = pledge_problem(last)
            assert (problem.status, problem.headers) == (503, {"Retry-After": "5"})
            assert "recovering from an error" in problem.detail
        finally:
            await handle.terminate(reason="test finished")
