"""A pledge a freshly started worker resumes (nothing cached) replays and acts as one that never left the cache.

On the dev server: one worker runs the pledge to a point and stops; a new worker, with an empty cache, gets the
next action and must replay the run before the handler runs. Both recorded histories (a run resumed in vetting,
and one resumed after continue-as-new) join tests/workflows/test_replay.py.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from pledgeflow.temporal.worker import workflow_runner
from tests.factories import make_report, open_ended
from tests.workflows.conftest import fast_first_cycle_settings, run_pledge_worker
from tests.workflows.driver import Mailbox, Pledge
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.pledge import PledgeWorkflow
from workflows.state import EventKind, PledgeStatus


async def _replays(pledge: Pledge) -> None:
    replayer = Replayer(
        workflows=[PledgeWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    for run_id in await pledge.run_ids():
        history = await pledge.pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"run {run_id}: {result.replay_failure}"


async def test_an_approval_resumes_a_pledge_in_review_on_a_fresh_worker(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings, mailbox = fast_first_cycle_settings(tmp_path, sqlite_url), Mailbox()
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        pledge = await pledges.submit(open_ended())
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        resumed = Pledge(pledges, pledge.id, pledge.first_run_id)
        answer = await resumed.approve()
        assert answer.status == PledgeStatus.published
        state = await resumed.wait_for(lambda s: s.cycle == 1)
        assert [e.kind for e in state.timeline] == [EventKind.submitted, EventKind.approved, EventKind.published]
        assert len(mailbox.of(pledge.id, EmailKind.published)) == 1
        await resumed.assert_registry_matches()
        await _replays(resumed)
        await record(resumed, "resumed_in_review")


async def test_a_report_resumes_a_continued_run_on_a_fresh_worker(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings, mailbox = fast_first_cycle_settings(tmp_path, sqlite_url), Mailbox()
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        pledge = await pledges.published(open_ended())
        await pledge.status_is(PledgeStatus.report_due)
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        resumed = Pledge(pledges, pledge.id, pledge.first_run_id)
        answer = await resumed.report(make_report())
        assert answer.status == PledgeStatus.published
        # The anniversaries come every 2 s: a slow restart may let the next one pass too (a missed cycle).
        state = await resumed.wait_for(lambda s: s.cycle >= 2)
        assert [r.cycle for r in state.reports] == [1]
        assert len(mailbox.of(pledge.id, EmailKind.report_received)) == 1
        await resumed.assert_registry_matches()
        await _replays(resumed)
        await record(resumed, "resumed_after_continue_as_new")
