"""What an operator sees in the Temporal UI (docs/lifecycle.md §16): every activity and timer reads as a sentence,
the current details say where the pledge stands, and the search attributes follow the ladder."""

from __future__ import annotations

import json

from temporalio.api.enums.v1 import EventType

from tests.factories import open_ended
from tests.workflows.driver import DAY, HOUR, Pledges
from workflows.state import PledgeStatus

LOCAL = "core_local_activity"  # the marker of a local activity (the projection, the policy read)


async def test_activities_and_timers_carry_sentences_and_details_stay_current(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + 14 * DAY + HOUR)
    state = await pledge.settled()
    assert state.status == PledgeStatus.report_due

    summaries: dict[str, list[str]] = {"activity": [], "timer": []}
    events = []
    for run_id in await pledge.run_ids():
        events += (await pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id).fetch_history()).events
    for event in events:
        kind = EventType.Name(event.event_type)
        local = kind == "EVENT_TYPE_MARKER_RECORDED" and event.marker_recorded_event_attributes.marker_name == LOCAL
        if local or kind in ("EVENT_TYPE_ACTIVITY_TASK_SCHEDULED", "EVENT_TYPE_TIMER_STARTED"):
            assert event.user_metadata.HasField("summary"), f"{kind} without a summary"
            text = json.loads(event.user_metadata.summary.data)
            summaries["timer" if "TIMER" in kind else "activity"].append(text)
    assert "reminder 1 to focal point" in summaries["activity"]
    assert "report request to focal point" in summaries["activity"]
    assert "read the reporting policy and staff addresses" in summaries["activity"]
    assert any(s.startswith("record reminder sent in the registry") for s in summaries["activity"])
    assert (
        f"waiting for the report for cycle 1 until {due:%Y-%m-%d %H:%M:%S} UTC, then report request for cycle 1"
        in (summaries["timer"])
    )

    metadata = await pledge.handle.query("__temporal_workflow_metadata")
    details = metadata.current_details
    assert details.startswith("**report_due** (cycle 1)")
    assert f"next: reminder 2 to the focal point and backup contact on {due + 30 * DAY:%Y-%m-%d}" in details
    assert "last email: reminder 1 to focal point (sent)" in details
    memo = await (await pledge.handle.describe()).memo()
    assert memo["last_email"] == "reminder 1 to focal point (sent)"


async def test_every_run_names_the_pledge_from_its_first_task(pledges: Pledges) -> None:
    """The first run has the title as its static summary; Temporal carries none into a continued run, so every
    run shows it in its current details, and a continued run shows them before any step is taken."""
    pledge = await pledges.published(open_ended(title="Digital skills for 10,000 women in Peru"))
    first, current = await pledge.run_ids()
    assert current != first
    described = await pledges.client.get_workflow_handle(pledge.handle.id, run_id=first).describe()
    assert await described.static_summary() == "Digital skills for 10,000 women in Peru"

    details = (await pledge.handle.query("__temporal_workflow_metadata")).current_details
    assert details.startswith("**published** (cycle 1)")
    assert details.endswith("pledge: Digital skills for 10,000 women in Peru")
