"""docs/lifecycle.md §13: an extension asked for by the pledger and granted or refused by staff."""

from __future__ import annotations

from pledgeflow.temporal.pledge_client import Refusal
from tests.factories import make_report, open_ended
from tests.workflows.driver import DAY, HOUR, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import PledgeStatus, StepName


async def test_a_granted_extension_moves_the_remaining_steps_of_the_cycle(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + 16 * DAY)
    state = await pledge.settled()
    assert (state.status, state.steps_done) == (PledgeStatus.report_due, [StepName.request, StepName.reminder_1])

    await pledge.request_extension("Our annual audit closes late this year; figures come in March.")
    assert (await pledge.state()).pending_extension_reason is not None
    result = await pledge.grant_extension(30, "audit timetable")
    assert result.next_deadline == due + 60 * DAY, "reminder 2 moves from day 30 to day 60"

    state = await pledge.settled()
    assert state.pending_extension_reason is None
    [granted] = pledge.emails(EmailKind.extension_granted)
    assert granted.request.context | {"title": "", "organization": ""} == {
        "title": "", "organization": "", "days": 30, "reason": "audit timetable",
        "deadline": (due + 75 * DAY).isoformat(),
    }  # fmt: skip
    assert state.timeline[-1].message == (
        f"Extension of 30 days granted (audit timetable); the next deadline is now {due + 75 * DAY:%Y-%m-%d}."
    )

    await pledges.skip_to(due + 95 * DAY)
    state = await pledge.assert_registry_matches()
    assert state.status == PledgeStatus.report_overdue
    assert [(s.kind.value, s.to, (s.at - due) // DAY) for s in pledge.emails() if s.at >= due] == [
        ("report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("extension_granted", "focal_point", 16),
        ("reminder_2", "focal_point", 60),
        ("reminder_2", "backup_contact", 60),
        ("final_notice", "focal_point", 75),
        ("final_notice", "backup_contact", 75),
        ("final_notice", "secretariat", 75),
    ]
    assert (state.next_step, state.next_deadline) == ("marked non-reporting in the public registry", due + 120 * DAY)

    # The next cycle is anchored to the original anniversary, not to the extended one.
    await pledge.report(make_report())
    state = await pledge.wait_for(lambda s: s.cycle == 2)
    assert (state.cycle_due_at, state.extension_days) == (due + 365 * DAY, 0)
    await record(pledge, "extension")


async def test_an_extension_over_the_maximum_is_refused_and_a_refusal_is_emailed(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + HOUR)
    await pledge.settled()

    too_long = await pledge.refused(pledge.grant_extension(61))
    assert (too_long.reason, too_long.pledge_status) == (Refusal.invalid, "report_due")
    await pledge.grant_extension(40)
    await pledge.settled()  # its email is sent beside the answer: history moves until it is
    over = await pledge.refused(pledge.grant_extension(21))
    assert over.message == "21 days is over the maximum: this cycle may be extended by 20 more days"

    nothing_asked = await pledge.refused(pledge.refuse_extension("No request is pending."))
    assert nothing_asked.reason == Refusal.not_allowed
    await pledge.request_extension("We need two more months for the survey of all the schools.")
    await pledge.refuse_extension("The survey can be reported next year; please report what you have.")
    state = await pledge.assert_registry_matches()
    [refused] = pledge.emails(EmailKind.extension_refused)
    assert refused.request.context["reason"] == "The survey can be reported next year; please report what you have."
    assert [(e.kind, e.public) for e in state.timeline[-3:]] == [
        ("extension_granted", True),
        ("extension_requested", False),
        ("extension_refused", False),
    ]


async def test_no_extension_before_publication(pledges: Pledges) -> None:
    pledge = await pledges.submit(open_ended())
    refusal = await pledge.refused(pledge.grant_extension(10))
    assert (refusal.reason, refusal.pledge_status) == (Refusal.not_allowed, "in_review")
    assert refusal.message == "cannot extend a pledge that is in_review"


async def test_two_extensions_in_one_cycle_each_reach_the_pledger(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    due = (await pledge.state()).cycle_due_at
    assert due is not None
    await pledges.skip_to(due + DAY)

    await pledge.grant_extension(10, "audit timetable")
    await pledge.grant_extension(15, "the auditor fell ill")
    await pledge.settled()

    granted = pledge.emails(EmailKind.extension_granted)
    assert [s.request.context["days"] for s in granted] == [10, 15]
    assert len({s.request.business_key for s in granted}) == 2, "the send ledger would drop the second"
