"""docs/lifecycle.md §11-12: the end-date final report, withdrawal from every open status, a discontinued
report, and an operator's closure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest

from pledgeflow.temporal.pledge_client import Refusal
from tests.factories import make_report, make_submission, open_ended
from tests.workflows.driver import DAY, HOUR, Pledge, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import ClosureReason, Decision, PledgeStatus


async def ending_pledge(pledges: Pledges, end_after: dt.timedelta) -> tuple[Pledge, dt.datetime]:
    """A published pledge whose end date is ``end_after`` from now; returns it and its end."""
    today = (await pledges.now()).date()
    end = today + end_after
    submission = make_submission(start_date=(today - 30 * DAY).isoformat(), end_date=end.isoformat())
    pledge = await pledges.published(submission)
    return pledge, dt.datetime.combine(end, dt.time.min, tzinfo=dt.UTC)


async def test_the_end_date_asks_for_a_final_report_and_a_completed_one_closes_as_completed(
    pledges: Pledges,
) -> None:
    pledge, end = await ending_pledge(pledges, dt.timedelta(days=500))
    state = await pledge.state()
    assert (state.cycle, state.final_cycle) == (1, False), "the first anniversary comes before the end"
    first_due = state.cycle_due_at
    assert first_due is not None
    await pledges.skip_to(first_due + 3 * DAY)
    await pledge.report(make_report())
    state = await pledge.wait_for(lambda s: s.cycle == 2)
    assert (state.final_cycle, state.cycle_due_at) == (True, end)
    assert (state.next_step, state.next_deadline) == ("final report request for cycle 2", end)

    await pledges.skip_to(end + 20 * DAY)
    state = await pledge.settled()
    assert state.status == PledgeStatus.report_due
    result = await pledge.report(make_report(progress="completed", narrative="All 500 schools are connected now."))
    assert result.status == PledgeStatus.closed

    await pledge.handle.result()
    final = await pledge.assert_registry_matches()  # with cycle 1's report, which cycle 2's run left behind
    assert (final.status, final.closure_reason, final.closure_note) == (
        PledgeStatus.closed,
        ClosureReason.completed,
        "final report: completed",
    )
    assert [(r.cycle, r.final, r.report.progress.value) for r in final.reports] == [
        (1, False, "on_track"),
        (2, True, "completed"),
    ]
    [request] = pledge.emails(EmailKind.final_report_request)
    assert (request.at - end) // DAY == 0
    assert request.request.context["end_date"] == end.date().isoformat()
    assert [e.kind for e in final.timeline[-5:]] == [
        "final_report_requested", "reminder_sent", "email_sent", "final_report_received", "completed",
    ]  # fmt: skip
    [closed] = pledge.emails(EmailKind.closed)
    assert closed.request.context["closure_reason"] == "completed"
    await record(pledge, "final_report_completed")


async def test_a_final_report_that_is_not_completed_closes_as_ended(pledges: Pledges) -> None:
    pledge, end = await ending_pledge(pledges, dt.timedelta(days=100))
    await pledges.skip_to(end + HOUR)
    await pledge.settled()
    await pledge.report(make_report(progress="delayed"))
    final = await pledge.handle.result()
    assert (final.closure_reason, final.closure_note) == (ClosureReason.ended, "final report: delayed")


async def test_no_final_report_ends_the_pledge_with_final_report_missing(pledges: Pledges) -> None:
    pledge, end = await ending_pledge(pledges, dt.timedelta(days=100))
    await pledges.skip_to(end + 91 * DAY)

    final = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.status, final.closure_reason, final.closure_note) == (
        PledgeStatus.closed,
        ClosureReason.ended,
        "final report missing",
    )
    since_end = [(s.kind.value, s.to, (s.at - end) // DAY) for s in pledge.emails() if s.at >= end]
    assert since_end == [
        ("final_report_request", "focal_point", 0),
        ("reminder_1", "focal_point", 14),
        ("reminder_2", "focal_point", 30),
        ("reminder_2", "backup_contact", 30),
        ("final_notice", "focal_point", 45),
        ("final_notice", "backup_contact", 45),
        ("final_notice", "secretariat", 45),
        ("closed", "focal_point", 90),
    ]
    assert {s.request.thread_kind for s in pledge.emails(EmailKind.reminder_1)} == {EmailKind.final_report_request}
    assert final.timeline[-1].message == "The pledge ended without its final report."
    await record(pledge, "final_report_missing")


async def in_review(pledges: Pledges) -> Pledge:
    return await pledges.submit(open_ended())


async def changes_requested(pledges: Pledges) -> Pledge:
    pledge = await in_review(pledges)
    await pledge.decide(Decision.request_changes, "vera", "Please date the deliverables.")
    return pledge


async def published(pledges: Pledges) -> Pledge:
    return await pledges.published(open_ended())


def after_anniversary(days: int) -> Callable[[Pledges], Awaitable[Pledge]]:
    async def reach(pledges: Pledges) -> Pledge:
        pledge = await published(pledges)
        due = (await pledge.state()).cycle_due_at
        assert due is not None
        await pledges.skip_to(due + days * DAY + HOUR)
        return pledge

    return reach


REACH: dict[PledgeStatus, Callable[[Pledges], Awaitable[Pledge]]] = {
    PledgeStatus.in_review: in_review,
    PledgeStatus.changes_requested: changes_requested,
    PledgeStatus.published: published,
    PledgeStatus.report_due: after_anniversary(0),
    PledgeStatus.report_overdue: after_anniversary(45),
    PledgeStatus.non_reporting: after_anniversary(90),
}


@pytest.mark.parametrize("status", list(REACH))
async def test_the_pledger_can_withdraw_from_every_open_status(pledges: Pledges, status: PledgeStatus) -> None:
    pledge = await REACH[status](pledges)
    assert (await pledge.settled()).status == status

    result = await pledge.withdraw("The programme merged into the national broadband plan.")
    assert result.status == PledgeStatus.closed

    final = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.closure_reason, final.closure_note) == (
        ClosureReason.withdrawn,
        "The programme merged into the national broadband plan.",
    )
    assert (final.timeline[-1].actor, final.timeline[-1].kind) == ("pledger", "withdrawn")
    [withdrawn] = pledge.emails(EmailKind.withdrawn)
    assert (withdrawn.to, withdrawn.request.context["reason"]) == (
        "focal_point",
        "The programme merged into the national broadband plan.",
    )
    assert (await pledge.search_attributes())["PledgeStatus"] == "closed"


async def test_a_discontinued_report_closes_the_pledge_as_withdrawn(pledges: Pledges) -> None:
    pledge = await after_anniversary(3)(pledges)
    await pledge.report(make_report(progress="discontinued", narrative="Funding ended; we stopped the programme."))

    final = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.status, final.closure_reason, final.closure_note) == (
        PledgeStatus.closed,
        ClosureReason.withdrawn,
        "discontinued",
    )
    assert [r.report.progress.value for r in final.reports] == ["discontinued"]
    assert [s.kind for s in pledge.emails()][-2:] == [EmailKind.report_received, EmailKind.withdrawn]


async def test_an_operator_closes_a_pledge_with_a_reason(pledges: Pledges) -> None:
    pledge = await published(pledges)
    refusal = await pledge.refused(pledge.close("   "))
    assert (refusal.reason, refusal.pledge_status) == (Refusal.invalid, "published")

    await pledge.close("Duplicate of PF-7K3M9Q, submitted twice by the same ministry.")
    final = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.closure_reason, final.closure_note) == (
        ClosureReason.removed,
        "Duplicate of PF-7K3M9Q, submitted twice by the same ministry.",
    )
    assert (final.timeline[-1].registry_actor, final.timeline[-1].public) == ("staff:omar", True)
    [closed] = pledge.emails(EmailKind.closed)
    assert closed.request.context["closure_reason"] == "removed"
