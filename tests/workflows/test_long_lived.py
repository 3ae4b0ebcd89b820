"""A pledge's whole life in years: every run stays small, whatever the pledge's age (docs/lifecycle.md §16)."""

from __future__ import annotations

import datetime as dt

from temporalio.api.enums.v1 import EventType

from tests.factories import make_report, open_ended
from tests.workflows.driver import DAY, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import PledgeStatus

# When the report arrives, relative to each anniversary: on time, after the reminders, overdue,
# non-reporting and back, and early enough that no request goes out.
YEARS = [3, 3, 32, 50, 3, -20, 100, 3, 16, 3]
MAX_EVENTS_PER_RUN = 1_000


async def test_a_ten_year_open_ended_pledge_keeps_every_run_small_recorded(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    for cycle, offset in enumerate(YEARS, start=1):
        state = await pledge.state()
        assert (state.cycle, state.status) == (cycle, PledgeStatus.published)
        assert state.cycle_due_at is not None
        await pledges.skip_to(state.cycle_due_at + offset * DAY)
        await pledge.settled()
        await pledge.report(make_report(narrative=f"Year {cycle}: schools connected, teachers trained on schedule."))
        await pledge.wait_for(lambda s, cycle=cycle: s.cycle == cycle + 1)  # type: ignore[misc]

    state = await pledge.assert_registry_matches()
    first = state.published_at
    assert first is not None
    assert state.cycle_due_at == first + 11 * 365 * DAY, "anniversaries never drift"
    assert (state.status, len(state.reports), state.missed_cycles) == (PledgeStatus.published, 10, 2)
    assert len(pledge.emails(EmailKind.report_request)) == 9, "the early report saved one request"

    sizes = []
    for run_id in await pledge.run_ids():
        history = await pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id).fetch_history()
        sizes.append(len(history.events))
        assert EventType.Name(history.events[0].event_type) == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"
    assert len(sizes) == 12, "a run for vetting, then one per reporting cycle"
    assert max(sizes) < MAX_EVENTS_PER_RUN, sizes
    print(f"\nhistory events per run over ten years: {sizes} (total {sum(sizes)})")
    await record(pledge, "ten_years")


def test_years_cover_the_ladder() -> None:
    # The scenario above is only as good as its spread over the ladder's steps.
    policy_days = {"reminder_1": 14, "reminder_2": 30, "overdue": 45, "non_reporting": 90}
    reached = {step for step, day in policy_days.items() if any(offset > day for offset in YEARS)}
    assert reached == set(policy_days) and min(YEARS) < 0
    assert dt.timedelta(days=max(YEARS)) < dt.timedelta(days=365 + 90)
