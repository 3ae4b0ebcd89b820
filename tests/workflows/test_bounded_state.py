"""Issue 14: a pledge's state stays bounded however many reports it gathers; the registry keeps them all.

240 additions of full-length reports once pushed the state (the query's answer and the continue-as-new input)
past Temporal's 2 MiB payload limit and the pledge was stuck for good. The state keeps what the next run and the
pages need; every report and event is in the registry.
"""

from __future__ import annotations

from sqlmodel import func, select

from pledgeflow.core.db import session_for
from pledgeflow.core.models import Report, TimelineEntry
from tests.factories import make_report, open_ended
from tests.workflows.driver import DAY, Pledge, Pledges
from tests.workflows.histories import record
from workflows.projection import KEPT_REPORT_BYTES, KEPT_TIMELINE_BYTES
from workflows.state import EventKind, PledgeStatus
from workflows.submission import NARRATIVE_MAX_CHARS

ADDITIONS = 300
PAYLOAD_LIMIT = 2 * 1024 * 1024


async def test_300_full_length_reports_keep_the_state_far_below_the_payload_limit(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    state = await pledge.state()
    assert state.cycle_due_at is not None
    await pledges.skip_to(state.cycle_due_at + 3 * DAY)
    await pledge.report(make_report(narrative="The first year: " + "schools connected. " * 50))
    await pledge.wait_for(lambda s: s.cycle == 2)

    long = "Additional detail on the schools connected and the teachers trained. " * 200
    narrative = long[: NARRATIVE_MAX_CHARS - 10]
    for number in range(ADDITIONS):
        answer = await pledge.report(make_report(narrative=f"{number:05d} {narrative}"), cycle=1)
        assert answer.message == "Added to the report for cycle 1."

    state = await pledge.carried()
    size = len(state.model_dump_json())
    assert size < KEPT_REPORT_BYTES + KEPT_TIMELINE_BYTES + 64 * 1024 < PAYLOAD_LIMIT // 4, size
    assert state.reports[-1].report.narrative.startswith(f"{ADDITIONS - 1:05d}"), "the newest stay"
    assert state.timeline[-1].kind == EventKind.report_added
    with session_for(pledges.settings.database_url) as session:
        reports = session.exec(select(func.count()).select_from(Report).where(Report.pledge_id == pledge.id)).one()
        events = session.exec(
            select(TimelineEntry.seq).where(TimelineEntry.pledge_id == pledge.id).order_by(TimelineEntry.seq)  # type: ignore[arg-type]
        ).all()
    assert reports == ADDITIONS + 1, "the registry keeps every report"
    assert list(events) == list(range(1, state.timeline[-1].seq + 1)), "and every event, numbered without a gap"
    assert pledge.registry_timeline()[-len(state.timeline) :] == state.timeline

    # The next cycle continues as new with the bounded state, and the pledge goes on.
    assert state.cycle_due_at is not None
    await pledges.skip_to(state.cycle_due_at + 3 * DAY)
    await pledge.report(make_report())
    after = await pledge.wait_for(lambda s: s.cycle == 3)
    assert after.status == PledgeStatus.published
    assert after.timeline[-1].seq > state.timeline[-1].seq


async def test_the_carried_state_stays_flat_cycle_after_cycle(pledges: Pledges) -> None:
    """Issue 10: each cycle's run starts from what the last one carried, and that does not grow with the
    years; the registry (and so the pages) keeps the whole story."""
    pledge = await pledges.published(open_ended())
    for cycle in range(1, 5):
        state = await pledge.carried()
        assert state.cycle_due_at is not None
        await pledges.skip_to(state.cycle_due_at + 3 * DAY)
        await pledge.report(make_report(narrative=f"Year {cycle}: " + "schools connected, teachers trained. " * 5))
        await pledge.wait_for(lambda s, cycle=cycle: s.cycle == cycle + 1)

    inputs = [await _input_bytes(pledge, run_id) for run_id in await pledge.run_ids()]
    cycle_runs = inputs[1:]  # each starts from the state the run before carried
    assert len(cycle_runs) == 5
    assert max(cycle_runs) <= 1.1 * cycle_runs[0], inputs
    carried = await pledge.carried()
    assert [event.kind for event in carried.timeline] == [EventKind.report_received]
    assert carried.reports == [] and len(carried.applied_updates) == 1

    whole = await pledge.settled()
    assert [report.cycle for report in whole.reports] == [1, 2, 3, 4]
    assert [event.seq for event in whole.timeline] == list(range(1, carried.timeline[-1].seq + 1))
    assert whole.timeline[0].message == "Pledge submitted for review."
    assert whole.timeline == pledge.registry_timeline()
    await record(pledge, "carried_what_is_needed")


async def _input_bytes(pledge: Pledge, run_id: str) -> int:
    history = await pledge.pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id).fetch_history()
    return history.events[0].workflow_execution_started_event_attributes.input.ByteSize()
