"""The import start path (docs/import.md) on the time-skipping server with the default policy's real durations:
each imported pledge lands where its ladder stands, sends nothing for the past, and then lives on as any."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.factories import make_report, make_submission, open_ended, report_data
from tests.workflows.driver import DAY, HOUR, Pledge, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import ClosureReason, EventKind, ImportedPledge, PledgeStatus

YEAR = 365 * DAY


def report(at: dt.datetime, **overrides: Any) -> dict[str, Any]:
    return {**report_data(**overrides), "received_at": at}


async def imported(pledges: Pledges, key: str, **fields: Any) -> Pledge:
    submission = fields.pop("submission", None) or open_ended(title=f"Imported pledge {key}")
    fields.setdefault("submitted_at", fields.get("published_at", await pledges.now()) - 20 * DAY)
    return await pledges.imported(submission, ImportedPledge(key=key, **fields))


async def test_every_point_of_the_ladder_lands_as_the_policy_says_and_nothing_is_emailed(pledges: Pledges) -> None:
    now = await pledges.now()
    fresh = await imported(pledges, "fresh", submitted_at=now)
    waiting = await imported(pledges, "waiting", submitted_at=now - 20 * DAY)
    never_reported = await imported(pledges, "silent", published_at=now - 3 * YEAR)
    reported = await imported(pledges, "reported", published_at=now - 400 * DAY, reports=[report(now - 30 * DAY)])
    closed = await imported(pledges, "closed", published_at=now - 3 * YEAR, status="closed", closure_reason="completed")

    landed = {pledge.id: await pledge.assert_registry_matches() for pledge in (fresh, waiting, never_reported)}
    landed |= {pledge.id: await pledge.assert_registry_matches() for pledge in (reported, closed)}
    assert landed[fresh.id].status == landed[waiting.id].status == PledgeStatus.in_review
    assert landed[waiting.id].next_step == "a vetting decision by staff (never automatic)"
    assert (landed[never_reported.id].status, landed[never_reported.id].closure_reason) == (
        PledgeStatus.closed,
        ClosureReason.delisted,
    )
    assert (landed[reported.id].status, landed[reported.id].cycle) == (PledgeStatus.published, 2)
    assert landed[reported.id].next_deadline == now - 400 * DAY + 2 * YEAR
    assert (landed[closed.id].status, landed[closed.id].closure_reason) == (
        PledgeStatus.closed,
        ClosureReason.completed,
    )
    for pledge in (fresh, waiting, never_reported, reported, closed):
        assert pledge.emails() == [], f"{pledge.id}: no email for what has passed"
        assert landed[pledge.id].timeline[-1].kind == EventKind.imported
    row = reported.registry_row()
    assert row is not None and row.published_at == now - 400 * DAY and row.last_report_at == now - 30 * DAY


async def test_a_non_reporting_import_carries_on_to_delisting_on_the_original_anniversaries(pledges: Pledges) -> None:
    now = await pledges.now()
    published = now - 3 * YEAR
    pledge = await imported(pledges, "nonreporting", published_at=published, last_report_at=now - 2 * YEAR)
    state = await pledge.settled()
    assert (state.status, state.cycle, state.missed_cycles) == (PledgeStatus.non_reporting, 2, 1)
    delisting = published + 2 * YEAR + 90 * DAY + YEAR
    assert state.next_deadline == delisting
    assert pledge.emails() == []

    await pledges.skip_to(delisting + HOUR)
    state = await pledge.status_is(PledgeStatus.closed)
    assert state.closure_reason == ClosureReason.delisted
    assert pledge.email_log() == [("delisted", "focal_point"), ("delisted", "backup_contact")]
    assert [(sent.at - delisting) // HOUR for sent in pledge.emails()] == [0, 0], "sent on the day the policy says"
    await record(pledge, "imported_delisted")


async def test_notify_sends_only_the_current_steps_email_and_the_ladder_goes_on(pledges: Pledges) -> None:
    now = await pledges.now()
    published = now - YEAR - 15 * DAY  # cycle 1 asked for 15 days ago, reminder 1 after 14: both passed
    pledge = await imported(pledges, "due", published_at=published, notify=True)
    state = await pledge.settled()
    assert state.status == PledgeStatus.report_due
    [request] = pledge.emails()
    assert (request.kind, request.to, request.request.context["cycle"]) == (EmailKind.report_request, "focal_point", 1)
    assert request.request.context["deadline"] == (published + YEAR + 45 * DAY).isoformat()

    await pledges.skip_to(published + YEAR + 30 * DAY + HOUR)
    await pledge.wait_for(lambda state: state.steps_done[-1] == "reminder_2")
    assert pledge.email_log() == [
        ("report_request", "focal_point"),
        ("reminder_2", "focal_point"),
        ("reminder_2", "backup_contact"),
    ]
    await pledge.report(make_report())
    state = await pledge.wait_for(lambda state: state.cycle == 2)
    assert state.cycle_due_at == published + 2 * YEAR
    await pledge.settled()
    await record(pledge, "imported_report_due")


async def test_an_imported_pledge_with_an_end_date_closes_on_its_final_report(pledges: Pledges) -> None:
    now = await pledges.now()
    published = now - 2 * YEAR + 200 * DAY  # cycle 2's anniversary comes after the end date: the final cycle
    submission = make_submission(
        start_date=(published - 10 * DAY).date().isoformat(), end_date=(now + 100 * DAY).date().isoformat()
    )
    pledge = await imported(pledges, "ending", submission=submission, published_at=published, reports=[
        report(published + YEAR - DAY)
    ])  # fmt: skip
    state = await pledge.settled()
    assert (state.status, state.cycle, state.final_cycle) == (PledgeStatus.published, 2, True)
    end = dt.datetime.combine(now.date() + 100 * DAY, dt.time.min, tzinfo=dt.UTC)
    assert state.cycle_due_at == end
    await pledges.skip_to(end + HOUR)
    await pledge.status_is(PledgeStatus.report_due)
    assert [sent.kind for sent in pledge.emails()] == [EmailKind.final_report_request]
    await pledge.report(make_report(progress="completed"))
    state = await pledge.status_is(PledgeStatus.closed)
    assert state.closure_reason == ClosureReason.completed
