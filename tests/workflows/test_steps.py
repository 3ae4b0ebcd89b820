"""Issue 10: the steps a pledge costs from submission to publication (history events, workflow tasks, activities).

The figures in the report of issue 10 come from ``steps_to_publication``; the test holds the ones that must not
come back: one projection for an approval and the publication that follows it.
"""

from __future__ import annotations

import json
from collections import Counter

from temporalio.api.enums.v1 import EventType

from tests.factories import open_ended
from tests.workflows.driver import Pledge, Pledges

LOCAL = "core_local_activity"  # the marker a local activity's result is recorded in


async def steps_to_publication(pledge: Pledge) -> Counter[str]:
    """Events of every run up to the published pledge's quiet first cycle, with its activities by type."""
    steps: Counter[str] = Counter()
    for run_id in await pledge.run_ids():
        history = await pledge.pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id).fetch_history()
        steps["runs"] += 1
        for event in history.events:
            steps["events"] += 1
            kind = EventType.Name(event.event_type)
            if kind == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED":
                steps["workflow tasks"] += 1
            if kind == "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED":
                steps[event.activity_task_scheduled_event_attributes.activity_type.name] += 1
            if kind == "EVENT_TYPE_MARKER_RECORDED" and event.marker_recorded_event_attributes.marker_name == LOCAL:
                marker = json.loads(event.marker_recorded_event_attributes.details["data"].payloads[0].data)
                steps[marker["activity_type"]] += 1
                steps["local activities"] += 1
    return steps


async def test_an_approval_and_its_publication_are_one_projection(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    steps = await steps_to_publication(pledge)
    # One projection at submission, one for the approval with the publication. The policy is read at the
    # submission and again at publication, which opens cycle 1 (SPEC 5.1: a change applies from the next cycle).
    assert (steps["project_pledge"], steps["load_policy"]) == (2, 2), steps
    # Both run as local activities, within the workflow task that asks for them (10-local-activities).
    assert steps["local activities"] == 4, steps
    assert await pledge.assert_registry_matches()
