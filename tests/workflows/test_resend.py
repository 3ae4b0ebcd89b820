"""An operator has an email of the current cycle sent again (``pledgeflow ops resend``): the same message to the
same people as a new occurrence in the send ledger, a line on the staff timeline, and refused when there is none."""

from __future__ import annotations

from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from pledgeflow.temporal.pledge_client import Refusal
from tests.factories import open_ended
from tests.workflows.conftest import fast_first_cycle_settings, run_pledge_worker
from tests.workflows.driver import DAY, HOUR, Mailbox, Pledge, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.outbox import EMAIL_TIMEOUT
from workflows.state import EventKind, PledgeStatus


async def report_due(pledges: Pledges) -> Pledge:
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + HOUR)
    await pledge.status_is(PledgeStatus.report_due)
    return pledge


async def test_the_last_email_goes_again_as_a_message_of_its_own(pledges: Pledges) -> None:
    pledge = await report_due(pledges)
    answer = await pledge.resend()
    assert answer.message == "Email report request queued again for the focal point."
    state = await pledge.wait_for(lambda state: state.timeline[-1].kind == EventKind.email_sent)
    first, again = pledge.emails(EmailKind.report_request)
    assert again.request.context == first.request.context, "the same facts: cycle, deadline"
    assert again.request.thread_kind == first.request.thread_kind
    assert (first.request.occurrence, again.request.occurrence) == (1, 2)
    assert again.request.business_key == f"{first.request.business_key}/2", "a new row in the send ledger"
    resent, sent = state.timeline[-2:]
    assert (resent.kind, resent.registry_actor, resent.public) == (EventKind.email_resent, "staff:omar", False)
    assert (sent.kind, sent.message, sent.public) == (
        EventKind.email_sent,
        "Email report request to focal point sent.",
        False,
    )
    await pledge.assert_registry_matches()
    await record(pledge, "resend")


async def test_a_named_kind_goes_to_everyone_who_had_it(pledges: Pledges) -> None:
    pledge = await report_due(pledges)
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + 45 * DAY + HOUR)
    await pledge.status_is(PledgeStatus.report_overdue)
    before = len(pledge.emails())

    await pledge.resend()  # the last asked for: the final notice, to every contact and the secretariat
    await pledge.resend(EmailKind.report_request)
    state = await pledge.wait_for(lambda state: len(pledge.emails()) == before + 4)
    assert pledge.email_log()[before:] == [
        ("final_notice", "focal_point"),
        ("final_notice", "backup_contact"),
        ("final_notice", "secretariat"),
        ("report_request", "focal_point"),
    ]
    threads = [s.request.thread_kind for s in pledge.emails(EmailKind.final_notice)]
    assert threads == [EmailKind.report_request, EmailKind.report_request, None] * 2, "threaded as the first time"
    # The request said "due by" the overdue date, now past: sent again, it names the deadline in force now.
    first, again = pledge.emails(EmailKind.report_request)
    assert first.request.context["deadline"] == (due + 45 * DAY).isoformat()
    assert again.request.context["deadline"] == (due + 90 * DAY).isoformat() == state.next_deadline.isoformat()


async def test_what_was_not_sent_this_cycle_is_refused_without_a_trace(pledges: Pledges) -> None:
    pledge = await report_due(pledges)
    refusal = await pledge.refused(pledge.resend(EmailKind.reminder_2))
    assert refusal.reason == Refusal.not_allowed
    assert refusal.message == "no reminder_2 email was sent in the current cycle; there is nothing to send again"
    # Last cycle's "published" email belongs to cycle 1 too, so it may go again; the submission's may not.
    refusal = await pledge.refused(pledge.resend(EmailKind.submission_received))
    assert refusal.reason == Refusal.not_allowed


async def test_after_continue_as_new_the_previous_runs_email_of_the_cycle_goes_again(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    assert len(await pledge.run_ids()) == 2, "publication continued as new into cycle 1's run"
    await pledge.resend()
    await pledge.wait_for(lambda state: len(pledge.emails(EmailKind.published)) == 2)
    assert [s.request.occurrence for s in pledge.emails(EmailKind.published)] == [1, 2]
    await pledge.settled()
    await record(pledge, "resend_after_continue_as_new")


async def test_a_restarted_worker_replays_the_run_then_resends(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    # On the dev server: the time-skipping one never handed the update to the new worker (90 s tried).
    settings, mailbox = fast_first_cycle_settings(tmp_path, sqlite_url), Mailbox()
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        pledge = await pledges.published(open_ended())
        await pledge.status_is(PledgeStatus.report_due)
    # A new worker, with nothing cached: the update makes it replay the whole run before the handler runs.
    async with run_pledge_worker(dev_env, settings, mailbox) as pledges:
        resumed = Pledge(pledges, pledge.id, pledge.first_run_id)
        await resumed.resend(EmailKind.report_request)
        # The first worker may have stopped with the request's email started and unreported: its retry comes
        # after the email's start-to-close timeout, and the resend leaves after it.
        state = await resumed.wait_for(
            lambda _: len(mailbox.of(pledge.id, EmailKind.report_request)) == 2,
            timeout=EMAIL_TIMEOUT.total_seconds() + 30,
        )
        assert EventKind.email_resent in [event.kind for event in state.timeline[-2:]]
        await record(resumed, "resend_after_restart")
