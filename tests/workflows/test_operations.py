"""Extending every open cycle at once (docs/lifecycle.md §13) on the dev server, whose visibility store
answers the operator's query on the pledges' search attributes."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from pledgeflow.operations.extensions import extend_all_open_cycles, open_cycle_pledges
from tests.factories import open_ended
from tests.workflows.conftest import fast_first_cycle_settings, run_pledge_worker
from tests.workflows.driver import Mailbox
from workflows.emails import EmailKind
from workflows.state import PledgeStatus


async def test_extend_all_open_cycles_grants_each_open_cycle_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings = fast_first_cycle_settings(tmp_path, sqlite_url)
    async with run_pledge_worker(dev_env, settings, Mailbox()) as pledges:
        due = [await pledges.published(open_ended()) for _ in range(3)]
        in_review = await pledges.submit(open_ended())
        withdrawn = await pledges.published(open_ended())
        await withdrawn.withdraw("Merged into another pledge.")
        for pledge in due:
            await pledge.wait_for(lambda state: state.status == PledgeStatus.report_due)
        before = {pledge.id: (await pledge.state()).next_deadline for pledge in due}
        await due[0].grant_extension(50, "earlier request")

        async with asyncio.timeout(20):  # visibility is eventually consistent
            while await open_cycle_pledges(dev_env.client, settings.task_queue) != sorted(p.id for p in due):
                await asyncio.sleep(0.2)

        result = await extend_all_open_cycles(
            pledges.pledge_client, 20, "The report form was down for two days.", "omar", task_queue=settings.task_queue
        )

        assert result.extended == sorted(p.id for p in due[1:])
        assert result.refused == {due[0].id: "20 days is over the maximum: this cycle may be extended by 10 more days"}
        assert result.failed == {}
        for pledge in due[1:]:
            state = await pledge.assert_registry_matches()
            assert state.extension_days == 20
            assert state.next_deadline == before[pledge.id] + dt.timedelta(days=20)  # type: ignore[operator]
            assert (state.timeline[-1].registry_actor, state.timeline[-1].kind) == ("staff:omar", "extension_granted")
            assert [s.request.context["days"] for s in pledge.emails(EmailKind.extension_granted)] == [20]
        for untouched in (in_review, withdrawn):
            assert all(e.kind != "extension_granted" for e in (await untouched.state()).timeline)
        assert (await due[0].state()).extension_days == 50
