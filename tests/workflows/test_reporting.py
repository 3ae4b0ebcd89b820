"""docs/lifecycle.md §5-10: the yearly report request, reminders, overdue, non-reporting, reinstatement,
delisting, the early-report window, email replies, and a policy change applying from the next cycle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from pledgeflow.core.settings import Settings
from tests.conftest import make_settings
from tests.factories import make_report, open_ended
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import DAY, HOUR, Mailbox, Pledge, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import ClosureReason, EmailReply, PledgeState, PledgeStatus, StepName


async def report_due(pledges: Pledges) -> tuple[Pledge, dt.datetime]:
    """A published pledge whose first anniversary has just passed: the report request is out."""
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + HOUR)
    state = await pledge.settled()
    assert state.status == PledgeStatus.report_due
    return pledge, due


def ladder_log(pledge: Pledge, due: dt.datetime) -> list[tuple[str, str, int]]:
    """(kind, recipient role, whole days after the anniversary) of the emails sent since it."""
    return [(s.kind.value, s.to, (s.at - due) // DAY) for s in pledge.emails() if s.at >= due]


async def report_and_settle(pledge: Pledge, progress: str = "on_track") -> PledgeState:
    result = await pledge.report(make_report(progress=progress))
    assert result.status == PledgeStatus.published
    return await pledge.wait_for(lambda state: state.cycle == 2 and not state.cycle_reported)


async def test_report_on_time_answers_the_request(pledges: Pledges) -> None:
    pledge, due = await report_due(pledges)
    [request] = pledge.emails(EmailKind.report_request)
    assert request.request.context["deadline"] == (due + 45 * DAY).isoformat()
    assert (request.request.cycle, request.request.thread_kind) == (1, None)

    await pledges.skip(5 * DAY)
    state = await report_and_settle(pledge)
    await pledges.skip(60 * DAY)
    state = await pledge.assert_registry_matches()

    assert (state.status, state.cycle, state.cycle_due_at) == (PledgeStatus.published, 2, due + 365 * DAY)
    assert [(e.kind, e.actor) for e in state.timeline[-2:]] == [
        ("report_requested", "system"),
        ("report_received", "pledger"),
    ]
    assert ladder_log(pledge, due) == [("report_request", "focal_point", 0), ("report_received", "focal_point", 5)]
    [receipt] = pledge.emails(EmailKind.report_received)
    assert receipt.request.thread_kind == EmailKind.report_request
    assert receipt.request.context | {"title": None, "organization": None} == {
        "title": None, "organization": None, "cycle": 1, "progress": "on_track", "reinstated": False,
        "reply_text": None,
    }  # fmt: skip
    assert [(r.cycle, r.source, r.report.progress.value) for r in state.reports] == [(1, "form", "on_track")]
    assert (state.next_step, state.next_deadline) == ("report request for cycle 2", due + 365 * DAY)


async def test_report_after_reminder_1(pledges: Pledges) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(14 * DAY)
    state = await pledge.settled()
    assert (state.status, state.steps_done) == (PledgeStatus.report_due, [StepName.request, StepName.reminder_1])

    await report_and_settle(pledge)
    await pledge.assert_registry_matches()
    assert ladder_log(pledge, due) == [
        ("report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("report_received", "focal_point", 14),
    ]
    [reminder] = pledge.emails(EmailKind.reminder_1)
    assert (reminder.request.thread_kind, reminder.request.context["deadline"]) == (
        EmailKind.report_request,
        (due + 45 * DAY).isoformat(),
    )


async def test_report_after_reminder_2_which_also_reaches_the_backup_contact(pledges: Pledges) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(30 * DAY)
    await pledge.settled()
    await pledges.skip(2 * DAY)

    state = await report_and_settle(pledge)
    state = await pledge.assert_registry_matches()
    assert ladder_log(pledge, due) == [
        ("report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("reminder_2", "focal_point", 30),
        ("reminder_2", "backup_contact", 30),
        ("report_received", "focal_point", 32),
    ]
    assert {s.request.recipient.email for s in pledge.emails(EmailKind.reminder_2)} == {
        c.email for c in state.submission.contacts()
    }
    assert [e.message for e in state.timeline if e.kind in {"reminder_sent", "email_sent"}] == [
        "Reminder 1 queued for the focal point.",
        "Email reminder 1 to focal point sent.",
        "Reminder 2 queued for the focal point and backup contact.",
        "Email reminder 2 to focal point sent.",
        "Email reminder 2 to backup contact sent.",
    ], "queued when asked for, sent once the server took each message"


async def test_overdue_then_a_report_reinstates(pledges: Pledges, settings: Settings) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(45 * DAY)
    state = await pledge.settled()
    assert (state.status, state.missed_cycles) == (PledgeStatus.report_overdue, 1)
    assert (await pledge.search_attributes())["PledgeMissedCycles"] == 1
    notices = pledge.emails(EmailKind.final_notice)
    assert [(s.to, s.request.recipient.email) for s in notices][-1] == ("secretariat", settings.secretariat_email)
    assert {s.to for s in notices} == {"focal_point", "backup_contact", "secretariat"}
    assert {s.request.context["deadline"] for s in notices} == {(due + 90 * DAY).isoformat()}

    await pledges.skip(10 * DAY)
    state = await report_and_settle(pledge)
    state = await pledge.assert_registry_matches()
    assert (state.status, state.cycle_due_at, state.missed_cycles) == (PledgeStatus.published, due + 365 * DAY, 1)
    assert state.timeline[-1].message == "Report for reporting cycle 1 received (on track); the pledge is reinstated."
    assert pledge.emails(EmailKind.report_received)[0].request.context["reinstated"] is True
    await record(pledge, "overdue_reinstated")


async def test_non_reporting_then_a_report_reinstates_on_the_original_anniversary(pledges: Pledges) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(90 * DAY)
    state = await pledge.settled()
    assert state.status == PledgeStatus.non_reporting
    assert state.timeline[-1].public, "non-reporting is shown publicly"
    [notice] = pledge.emails(EmailKind.non_reporting)
    assert (notice.to, notice.request.context["delisting_date"]) == ("focal_point", (due + 455 * DAY).isoformat())
    assert (state.next_step, state.next_deadline) == ("delisted from the registry", due + 455 * DAY)

    await pledges.skip(200 * DAY)
    state = await report_and_settle(pledge, progress="delayed")
    state = await pledge.assert_registry_matches()
    assert (state.status, state.cycle, state.cycle_due_at) == (PledgeStatus.published, 2, due + 365 * DAY)
    assert (await pledge.search_attributes())["PledgeStatus"] == "published"


async def test_a_year_of_silence_after_non_reporting_delists(pledges: Pledges) -> None:
    pledge, due = await report_due(pledges)
    await pledges.skip(90 * DAY)
    await pledge.settled()
    await pledges.skip(365 * DAY)

    final = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.status, final.closure_reason) == (PledgeStatus.closed, ClosureReason.delisted)
    assert ladder_log(pledge, due) == [
        ("report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("reminder_2", "focal_point", 30),
        ("reminder_2", "backup_contact", 30),
        ("final_notice", "focal_point", 45),
        ("final_notice", "backup_contact", 45),
        ("final_notice", "secretariat", 45),
        ("non_reporting", "focal_point", 90),
        ("delisted", "focal_point", 455),
        ("delisted", "backup_contact", 455),
    ]
    assert [e.kind for e in final.timeline if e.seq > 3] == [
        "report_requested", "reminder_sent", "email_sent", "reminder_sent", "email_sent", "email_sent",
        "report_overdue", "email_sent", "email_sent", "non_reporting", "delisted",
    ]  # fmt: skip
    assert all(e.public for e in final.timeline[1:])
    await record(pledge, "delisted")


async def test_a_report_in_the_early_window_suppresses_the_request(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None

    await pledges.skip_to(due - 100 * DAY)
    interim = await pledge.report(make_report(progress="in_progress"))
    assert (interim.status, (await pledge.state()).cycle) == (PledgeStatus.published, 1)
    assert "still due" in interim.message

    await pledges.skip_to(due - 30 * DAY)
    await report_and_settle(pledge)
    await pledges.skip_to(due + 20 * DAY)
    state = await pledge.assert_registry_matches()

    assert (state.status, state.cycle, state.cycle_due_at) == (PledgeStatus.published, 2, due + 365 * DAY)
    assert pledge.emails(EmailKind.report_request) == []
    assert [e.kind for e in state.timeline[-2:]] == ["progress_update", "report_received"]
    assert state.timeline[-1].message.endswith("before its anniversary: no request needed.")


async def test_an_email_reply_counts_as_a_report_once(pledges: Pledges) -> None:
    pledge, due = await report_due(pledges)
    now = await pledges.now()
    reply = EmailReply(
        message_id="<reply-1@connect-africa.example>",
        sender="amina@connect-africa.example",
        text="We connected 230 schools this year; the full report follows next week.",
        cycle=1,
        received_at=now,
    )
    await pledge.reply(reply)
    await pledge.reply(reply)
    await pledge.reply(reply.model_copy(update={"message_id": "<r2@x>", "text": "ok"}))
    state = await pledge.wait_for(lambda s: s.cycle == 2)
    state = await pledge.assert_registry_matches()

    assert [(r.cycle, r.source, r.report.progress.value) for r in state.reports] == [(1, "email", "in_progress")]
    assert state.reports[0].report.narrative == reply.text
    assert [(e.actor, e.kind) for e in state.timeline[-2:]] == [
        ("email", "report_received"),
        ("email", "reply_not_counted"),
    ]
    assert not state.timeline[-1].public
    assert [s.kind for s in pledge.emails() if s.at >= due] == [EmailKind.report_request, EmailKind.report_received]
    [receipt] = pledge.emails(EmailKind.report_received)
    assert receipt.request.context["reply_text"] == reply.text  # what was taken as the report, to correct
    await record(pledge, "email_reply")


async def test_an_email_reply_with_a_nul_character_still_counts(pledges: Pledges) -> None:
    pledge, _ = await report_due(pledges)
    text = "We connected 230 schools\x00 this year; details follow."
    reply = EmailReply(
        message_id="<nul@connect-africa.example>",
        sender="amina@connect-africa.example",
        text=text,
        cycle=1,
        received_at=await pledges.now(),
    )
    await pledge.reply(reply)
    state = await pledge.wait_for(lambda s: s.cycle == 2)
    assert [r.report.narrative for r in state.reports] == ["We connected 230 schools this year; details follow."]


async def test_a_policy_change_applies_from_the_next_cycle(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('reminder_1_after = "14d"\n')
    settings = make_settings(tmp_path, sqlite_url, policy_file=policy_file)
    async with run_pledge_worker(env, settings, Mailbox()) as pledges:
        pledge, due = await report_due(pledges)
        policy_file.write_text('reminder_1_after = "7d"\nreminder_2_after = "20d"\n')
        await pledges.skip(15 * DAY)
        await report_and_settle(pledge)
        due_2 = due + 365 * DAY
        await pledges.skip_to(due_2 + 21 * DAY)
        state = await pledge.assert_registry_matches()

        assert (state.policy and state.policy.reminder_1_after) == dt.timedelta(days=7)
        reminders = [
            (s.kind.value, s.to, s.request.cycle, (s.at - due) // DAY) for s in pledge.emails() if "reminder" in s.kind
        ]
        assert reminders == [
            ("reminder_1", "focal_point", 1, 14),
            ("reminder_1", "focal_point", 2, 365 + 7),
            ("reminder_2", "focal_point", 2, 365 + 20),
            ("reminder_2", "backup_contact", 2, 365 + 20),
        ]
