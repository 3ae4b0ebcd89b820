"""Issue 14: a stalled email never rushes the ladder, and a late run sends no burst of stale reminders.

- The final notice warns a pledge that it will be marked non-reporting. While it cannot be delivered (here the
  SMTP server hangs), the pledge stays overdue; once it settles, the whole grace period (non-reporting minus
  overdue: 45 days by default) runs from then.
- The pledge workers down past two steps: the late run takes every passed step with a consequence (the
  request), but a reminder whose next step is due as well is not sent; the staff timeline says so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from tests.conftest import make_settings
from tests.factories import open_ended
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import DAY, Mailbox, Pledge, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind, EmailOutcome, EmailRequest, RecipientRole
from workflows.state import EventKind, PledgeState, PledgeStatus


async def _query_until(pledge: Pledge, check: object, timeout: float = 15) -> PledgeState:
    """The state by query alone: with an email pending the workflow is never quiet (``Pledge.settled``)."""
    async with asyncio.timeout(timeout):
        while True:
            state = await pledge.pledge_client.state(pledge.id)
            if callable(check) and check(state):
                return state
            await asyncio.sleep(0.05)


# The ladder in seconds: overdue 3 s after the anniversary, non-reporting 8 s after it, so the grace is 5 s.
SECONDS_LADDER = """
reporting_interval = "10s"
early_report_window = "1s"
reminder_1_after = "1s"
reminder_2_after = "2s"
overdue_after = "3s"
non_reporting_after = "8s"
"""
SECOND = dt.timedelta(seconds=1)
# The ladder's emails after a cycle's report request, to the contacts and to the secretariat.
LATER_STEPS = {EmailKind.reminder_1, EmailKind.reminder_2, EmailKind.final_notice, EmailKind.non_reporting}
GRACE = 5 * SECOND


class StalledMail(Mailbox):
    """The emails ``holds`` picks hang until the test lets them through (an SMTP server that stalls)."""

    def __init__(self, holds: Callable[[EmailRequest], bool]) -> None:
        super().__init__()
        self.holds = holds
        self.released = asyncio.Event()
        self.stalled = asyncio.Event()

    @activity.defn(name="send_email")
    async def send_email(self, request: EmailRequest) -> EmailOutcome:
        if self.holds(request):
            self.stalled.set()
            await self.released.wait()
        return await super().send_email(request)


def stalled_notice() -> StalledMail:
    """The final notice to the contacts hangs."""
    return StalledMail(lambda r: r.kind == EmailKind.final_notice and r.recipient.role != RecipientRole.secretariat)


def stalled_request() -> StalledMail:
    """The report request to the focal point hangs."""
    return StalledMail(lambda r: r.kind == EmailKind.report_request and r.recipient.role == RecipientRole.focal_point)


@asynccontextmanager
async def _stalled_pledge(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, mailbox: StalledMail
) -> AsyncIterator[tuple[Pledges, Pledge, PledgeState]]:
    """A published pledge on the seconds ladder, once the mail ``mailbox`` holds has stalled; the mail is
    released at the end, so a failed test does not leave the worker waiting."""
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(SECONDS_LADDER)
    settings = make_settings(tmp_path, sqlite_url, policy_file=policy_file)
    async with run_pledge_worker(env, settings, mailbox) as pledges:
        try:
            pledge = await pledges.published(open_ended())
            state = await pledge.state()
            assert state.cycle_due_at is not None
            async with asyncio.timeout(30):
                await mailbox.stalled.wait()
            yield pledges, pledge, state
        finally:
            mailbox.released.set()


async def test_non_reporting_waits_for_the_final_notice_and_then_gives_the_whole_grace(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    mailbox = stalled_notice()
    async with _stalled_pledge(env, tmp_path, sqlite_url, mailbox) as (pledges, pledge, state):
        # The time-skipping server skips no time while the mail hangs: wait in real time past the 8 s mark.
        while await pledges.now() < state.cycle_due_at + 8 * SECOND + GRACE:
            await asyncio.sleep(0.2)
        stalled = await _query_until(pledge, lambda _: True)
        assert stalled.status == PledgeStatus.report_overdue, "never non-reporting before the warning arrived"
        assert stalled.next_step == "delivery of the final notice email, then its whole grace period"

        delivered = await pledges.now()
        mailbox.released.set()
        marked = await pledge.wait_for(lambda s: s.status == PledgeStatus.non_reporting, timeout=30)
        [non_reporting] = [e for e in marked.timeline if e.kind == EventKind.non_reporting]
        assert non_reporting.at >= delivered + GRACE, "the whole grace runs from the delivery"
        assert {s.to for s in pledge.emails(EmailKind.final_notice)} == {
            "focal_point",
            "backup_contact",
            "secretariat",
        }
        await pledge.assert_registry_matches()
        await record(pledge, "stalled_final_notice")


async def test_an_extension_granted_while_the_final_notice_hangs_names_the_earliest_deadline(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    mailbox = stalled_notice()
    async with _stalled_pledge(env, tmp_path, sqlite_url, mailbox) as (_, pledge, state):
        await _query_until(pledge, lambda s: s.status == PledgeStatus.report_overdue)

        granted = await pledge.grant_extension(1)

        new_deadline = state.cycle_due_at + DAY + 8 * SECOND
        assert granted.message == "Extension of 1 days granted."
        assert (
            (await _query_until(pledge, lambda _: True))
            .timeline[-1]
            .message.endswith(f"the next deadline is now {new_deadline:%Y-%m-%d}.")
        )
        mailbox.released.set()
        after = await pledge.wait_for(lambda s: s.next_step == "marked non-reporting in the public registry")
        assert after.next_deadline == new_deadline, "delivered in time for the extended date, which stands"


# A year of ten seconds with reminders two and six seconds after the anniversary, overdue after twenty.
OUTAGE_LADDER = """
reporting_interval = "10s"
early_report_window = "1s"
reminder_1_after = "2s"
reminder_2_after = "6s"
overdue_after = "20s"
non_reporting_after = "30s"
"""


async def test_a_late_run_takes_the_passed_request_but_no_stale_reminder(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(OUTAGE_LADDER)
    settings, mailbox = make_settings(tmp_path, sqlite_url, policy_file=policy_file), Mailbox()
    # No cache on the first worker: the late workflow task goes to whichever worker polls next.
    async with run_pledge_worker(env, settings, mailbox, max_cached_workflows=0) as pledges:
        pledge = await pledges.published(open_ended())
        state = await pledge.state()
        assert state.cycle_due_at is not None
        due = state.cycle_due_at
    # The pledge workers are down until the request (0 s) and both reminders (2 s, 6 s) have passed.
    while await pledges.now() < due + 8 * SECOND:
        await asyncio.sleep(0.2)
    async with run_pledge_worker(env, settings, mailbox) as pledges:
        resumed = Pledge(pledges, pledge.id, pledge.first_run_id)
        state = await resumed.wait_for(lambda s: len(s.steps_done) == 3)
        assert state.status == PledgeStatus.report_due
        assert [s.kind for s in resumed.emails()][-3:] == [
            EmailKind.report_request,
            EmailKind.reminder_2,
            EmailKind.reminder_2,
        ], "the request, then reminder 2 to both contacts; reminder 1 was stale"
        skipped = [(e.message, e.public) for e in state.timeline if e.kind == EventKind.email_skipped]
        assert skipped == [
            ("Reminder 1 to the focal point not sent: its time passed while the pledge waited for a worker.", False)
        ]
        assert state.next_deadline == due + 20 * SECOND
        await resumed.assert_registry_matches()
        await record(resumed, "late_run_without_stale_reminders")


async def test_no_later_step_reaches_anyone_before_the_request_it_follows(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    """Issue 14's long fault runs: after an SMTP outage, reminder 1 arrived before the report request (one
    address), and then reminder 2 to the backup contact did (another address): a pledge's mail is one queue."""
    mailbox = stalled_request()
    async with _stalled_pledge(env, tmp_path, sqlite_url, mailbox) as (pledges, pledge, state):
        # Real time past both reminders' moments (1 s and 2 s after the anniversary) while the request hangs.
        while await pledges.now() < state.cycle_due_at + 2.5 * SECOND:
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        assert [(s.kind, s.to) for s in pledge.emails() if s.kind in LATER_STEPS] == []

        mailbox.released.set()
        await pledge.wait_for(lambda s: s.status == PledgeStatus.report_overdue, timeout=30)
        arrived = [s for s in mailbox.sent if s.request.pledge_id == pledge.id]  # in the order they reached SMTP
        kinds = [s.kind for s in arrived]
        later = [kind for kind in kinds if kind in LATER_STEPS]
        assert EmailKind.reminder_2 in later and EmailKind.final_notice in later, kinds
        assert all(kinds.index(EmailKind.report_request) < kinds.index(kind) for kind in later), kinds
        roles = {s.to for s in arrived if s.kind in LATER_STEPS}
        assert {"focal_point", "backup_contact", "secretariat"} <= roles, roles
        await record(pledge, "request_stalled_before_anyone_s_mail")
