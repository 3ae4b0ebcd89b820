"""Recording pledge histories for the replay test (tests/workflows/test_replay.py).

Run ``PLEDGEFLOW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows`` to (re)write
tests/workflows/histories/<scenario>.<run>.json from the tests that call :func:`record`: one file per
workflow run, since every reporting cycle is a run of its own. Record again only for a deliberate
change, kept behind ``workflow.patched``; the old files then stay as the proof that running pledges
still replay.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from tests.workflows.driver import Pledge

HISTORIES = Path(__file__).parent / "histories"
# The events a workflow task's commands (and accepted or completed updates) write right after it completes.
COMMAND_EVENTS = {
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_TIMER_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
}


def recording() -> bool:
    return os.environ.get("PLEDGEFLOW_RECORD_HISTORIES") == "1"


async def record(pledge: Pledge, scenario: str) -> None:
    """Write every run of ``pledge`` as ``<scenario>.<n>.json`` when recording is switched on."""
    if not recording():
        return
    HISTORIES.mkdir(exist_ok=True)
    for stale in HISTORIES.glob(f"{scenario}.*.json"):
        stale.unlink()
    for number, run_id in enumerate(await pledge.run_ids(), start=1):
        handle = pledge.pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id)
        history = await handle.fetch_history()
        (HISTORIES / f"{scenario}.{number}.json").write_text(history.to_json())


def tasks_that_took_an_email_and_did_nothing(history: WorkflowHistory) -> list[int]:
    """The ids of the workflow tasks completed with no command although an email's result came in for them.

    The SDK's core may fold such a task, on a worker that had not cached the pledge, into the next one when
    that one carries updates: the email's result then reaches the workflow after the updates, where a
    replay applies it before them (workflows/pledge.py, ``PATCH_MAIL_SHOWN``). None may exist.
    """
    emails = {
        event.event_id
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
        and event.activity_task_scheduled_event_attributes.activity_type.name == "send_email"
    }
    empty: list[int] = []
    took_email = False
    events = list(history.events)
    for index, event in enumerate(events):
        if event.HasField("activity_task_completed_event_attributes"):
            took_email |= event.activity_task_completed_event_attributes.scheduled_event_id in emails
        if event.HasField("workflow_task_completed_event_attributes"):
            following = events[index + 1] if index + 1 < len(events) else None
            commanded = following is not None and following.event_type in COMMAND_EVENTS
            if took_email and not commanded:
                empty.append(event.event_id)
            took_email = False
    return empty
