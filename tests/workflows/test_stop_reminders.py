"""Issue 9: a contact's one-click unsubscribe stops the reminders to them, and only to them, for this pledge
only (docs/lifecycle.md §6, docs/email.md §7). The pledge goes on: its requests and notices, its status,
its other contacts' reminders. The secretariat is told; the staff timeline says who and when."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from pledgeflow.core.settings import Settings
from tests.conftest import make_settings
from tests.factories import make_report, open_ended
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import DAY, Mailbox, Pledge, Pledges
from tests.workflows.histories import record
from tests.workflows.test_reporting import report_due
from workflows.emails import EmailKind
from workflows.pledge import BASELINES, PATCH_STOP_REMINDERS
from workflows.state import ActionResult, PledgeState, PledgeStatus, StopRemindersInput

FOCAL = "amina@connect-africa.example"
BACKUP = "peter@connect-africa.example"


async def stop_reminders(pledge: Pledge, address: str) -> ActionResult:
    return await pledge.pledge_client.stop_reminders(pledge.id, StopRemindersInput(recipient=address))


def sent(pledge: Pledge, since: dt.datetime) -> list[tuple[str, str, int]]:
    """(kind, recipient role, whole days after ``since``) of the emails asked for since then."""
    return [(s.kind.value, s.to, (s.at - since) // DAY) for s in pledge.emails() if s.at >= since]


def skipped(state: PledgeState) -> list[str]:
    return [e.message for e in state.timeline if e.kind == "email_skipped"]


async def runs_marked(pledge: Pledge, patch_id: str) -> int:
    """How many of the pledge's runs recorded the marker of ``patch_id``."""
    runs = 0
    for run_id in await pledge.run_ids():
        history = await pledge.pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id).fetch_history()
        details = [
            payload.data
            for event in history.events
            if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            for payloads in event.marker_recorded_event_attributes.details.values()
            for payload in payloads.payloads
        ]
        runs += any(patch_id.encode() in data for data in details)
    return runs


async def test_an_unsubscribed_backup_contact_gets_no_more_reminders_and_the_pledge_goes_on(
    pledges: Pledges, settings: Settings
) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(31 * DAY)
    await pledge.settled()
    assert ("reminder_2", "backup_contact", 30) in sent(pledge, due)

    result = await stop_reminders(pledge, "Peter@Connect-Africa.example")
    assert result.status == PledgeStatus.report_due
    assert result.message == "Reminders to the backup contact of this pledge are stopped; the pledge itself goes on."
    again = await stop_reminders(pledge, BACKUP)
    assert again.message == "Reminders to the backup contact of this pledge were already stopped."
    state = await pledge.settled()
    assert state.reminders_stopped == [BACKUP]
    [stopped] = [e for e in state.timeline if e.kind == "reminders_stopped"]
    assert (stopped.actor, stopped.public) == ("pledger", False)
    assert stopped.message == f"The backup contact ({BACKUP}) unsubscribed from reminders."
    [told] = pledge.emails(EmailKind.reminders_stopped)
    assert (told.request.recipient.email, told.request.recipient.role) == (settings.secretariat_email, "secretariat")
    assert {key: told.request.context[key] for key in ("contact_role", "contact_name", "contact_email")} == {
        "contact_role": "backup_contact", "contact_name": "Peter Mwangi", "contact_email": BACKUP,
    }  # fmt: skip

    await pledges.skip_to(due + 46 * DAY)
    state = await pledge.assert_registry_matches()
    assert state.status == PledgeStatus.report_overdue
    assert [(kind, to) for kind, to, days in sent(pledge, due) if days >= 45] == [
        ("final_notice", "focal_point"),
        ("final_notice", "secretariat"),
    ]
    assert skipped(state) == [f"Email final notice to backup contact not sent: {BACKUP} unsubscribed from reminders."]
    assert [e.message for e in state.timeline if e.kind in {"report_overdue", "email_sent"}][-2:] == [
        "No report: overdue. Final notice queued for the focal point.",
        "Email final notice to focal point sent.",
    ]
    assert BACKUP not in " ".join(e.message for e in pledge.registry_timeline() if e.public)

    # The pledge goes on: a report reinstates it, and in the next cycle (a new run, after continue-as-new)
    # the request still reaches the focal point while reminder 2 reaches only the focal point.
    await pledge.report(make_report())
    state = await pledge.wait_for(lambda s: s.cycle == 2)
    assert state.reminders_stopped == [BACKUP]
    due_2 = due + 365 * DAY
    await pledges.skip_to(due_2 + 31 * DAY)
    state = await pledge.assert_registry_matches()
    assert sent(pledge, due_2) == [
        ("report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("reminder_2", "focal_point", 30),
    ]
    assert skipped(state)[-1] == f"Email reminder 2 to backup contact not sent: {BACKUP} unsubscribed from reminders."
    assert [e.message for e in state.timeline][-2:] == [
        "Reminder 2 queued for the focal point.",
        "Email reminder 2 to focal point sent.",
    ]
    # Every run took the change with the baseline, from its first activation (workflows/changes.py).
    runs = len(await pledge.run_ids())
    assert await runs_marked(pledge, BASELINES[-1].patch_id) == runs
    assert await runs_marked(pledge, PATCH_STOP_REMINDERS) == 0
    await record(pledge, "stop_reminders")


async def test_an_unsubscribed_focal_point_still_gets_report_requests_and_the_backup_its_reminders(
    pledges: Pledges,
) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(15 * DAY)
    await pledge.settled()
    await stop_reminders(pledge, FOCAL)

    await pledges.skip_to(due + 91 * DAY)
    state = await pledge.assert_registry_matches()
    assert state.status == PledgeStatus.non_reporting
    assert sent(pledge, due) == [
        ("report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("reminders_stopped", "secretariat", 15),
        ("reminder_2", "backup_contact", 30),
        ("final_notice", "backup_contact", 45),
        ("final_notice", "secretariat", 45),
        ("non_reporting", "focal_point", 90),  # not a reminder: what the pledge has become
    ]
    assert [e.message for e in state.timeline if e.kind in {"reminder_sent", "report_overdue"}] == [
        "Reminder 1 queued for the focal point.",
        "Reminder 2 queued for the backup contact.",
        "No report: overdue. Final notice queued for the backup contact.",
    ]
    assert len(skipped(state)) == 2


async def test_only_a_contact_may_stop_reminders_and_only_once_published(pledges: Pledges) -> None:
    in_review = await pledges.submit(open_ended())
    refusal = await in_review.refused(stop_reminders(in_review, FOCAL))
    assert (refusal.reason, refusal.message) == ("NotAllowedNow", "cannot stop reminders on a pledge that is in_review")

    pledge, _ = await report_due(pledges)
    refusal = await pledge.refused(stop_reminders(pledge, "someone.else@connect-africa.example"))
    assert (refusal.reason, refusal.message) == ("InvalidAction", "this address is not a contact of the pledge")
    assert (await pledge.state()).reminders_stopped == []


async def test_a_worker_restarted_before_the_unsubscribe_resumes_the_pledge_from_its_history(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    """The update reaches a workflow no worker has cached: the new worker replays its history first."""
    settings, mailbox = make_settings(tmp_path, sqlite_url), Mailbox()
    # The time-skipping server does not hear a worker's shutdown, and would keep handing the workflow to
    # the stopped worker's sticky queue, whose timeout runs in server time, which stands still while the
    # update waits. A first worker that caches nothing leaves no sticky queue behind.
    async with run_pledge_worker(env, settings, mailbox, max_cached_workflows=0) as pledges:
        first, due = await report_due(pledges)
    async with run_pledge_worker(env, settings, mailbox) as pledges:
        pledge = Pledge(pledges, first.id, first.first_run_id)
        await stop_reminders(pledge, BACKUP)
        await pledges.skip_to(due + 31 * DAY)
        state = await pledge.assert_registry_matches()
        assert [(kind, to) for kind, to, _ in sent(pledge, due)] == [
            ("report_request", "focal_point"),
            ("reminders_stopped", "secretariat"),
            ("reminder_1", "focal_point"),
            ("reminder_2", "focal_point"),
        ]
        assert skipped(state) == [f"Email reminder 2 to backup contact not sent: {BACKUP} unsubscribed from reminders."]
        await record(pledge, "stop_reminders_after_restart")
