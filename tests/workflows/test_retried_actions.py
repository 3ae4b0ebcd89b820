"""A retried action is applied once: the same update id gets the first answer again, also from the next run.

Temporal deduplicates update ids within one run only; a report settles its cycle and the workflow continues
as new, so a client's retry of that report (the API answered it 202 or 503, the client sent it again with
the same Idempotency-Key) lands in a run that never saw the id. The state carries the ids it applied.
"""

from __future__ import annotations

from pledgeflow.temporal.pledge_client import ActionRefused, Refusal
from tests.factories import make_report, open_ended
from tests.workflows.driver import DAY, Pledges
from tests.workflows.histories import record
from workflows.state import PledgeStatus, ReportInput


async def test_a_report_retried_after_continue_as_new_is_answered_not_applied_again(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    state = await pledge.state()
    assert state.cycle_due_at is not None
    await pledges.skip_to(state.cycle_due_at + 3 * DAY)
    await pledge.status_is(PledgeStatus.report_due)
    report = ReportInput(report=make_report(), source="api")
    first = await pledge.pledge_client.report(pledge.id, report, update_id="key-1.fingerprint-a")
    state = await pledge.wait_for(lambda s: s.cycle == 2)
    runs = len(await pledge.run_ids())

    again = await pledge.pledge_client.report(pledge.id, report, update_id="key-1.fingerprint-a")

    assert again == first
    state = await pledge.settled()
    assert [(r.cycle, r.report.progress.value) for r in state.reports] == [(1, "on_track")]
    assert len(await pledge.run_ids()) == runs, "the retry started nothing"
    await record(pledge, "retried_report")


async def test_an_idempotency_key_reused_with_another_body_is_refused(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    note = ReportInput(report=make_report(progress="in_progress"), source="api")
    await pledge.pledge_client.report(pledge.id, note, update_id="key-2.fingerprint-a")
    other = ReportInput(report=make_report(progress="delayed"), source="api")

    refusal = await pledge.refused(pledge.pledge_client.report(pledge.id, other, update_id="key-2.fingerprint-b"))

    assert isinstance(refusal, ActionRefused) and refusal.reason == Refusal.invalid
    assert "Idempotency-Key" in refusal.message
    assert len((await pledge.settled()).reports) == 1
