"""An email that is not delivered never stops the ladder, and the staff timeline says why (docs/email.md §3)."""

from __future__ import annotations

from tests.factories import open_ended
from tests.workflows.driver import Mailbox, Pledges
from tests.workflows.histories import record
from workflows.state import PledgeStatus


async def test_a_do_not_email_contact_is_skipped_and_the_timeline_says_so(pledges: Pledges, mailbox: Mailbox) -> None:
    submission = open_ended()
    mailbox.do_not_email.add(submission.focal_point.email)
    pledge = await pledges.submit(submission)
    state = await pledge.assert_registry_matches()

    assert pledge.email_log() == [("review_requested", "vetting_team")]
    skipped = [e for e in state.timeline if e.kind == "email_skipped"]
    assert [(e.message, e.public) for e in skipped] == [
        ("Email submission received to focal point not sent: do-not-email.", False)
    ]


async def test_an_smtp_refusal_is_recorded_and_the_pledge_goes_on(pledges: Pledges, mailbox: Mailbox) -> None:
    submission = open_ended()
    mailbox.refused_by_smtp.add(submission.focal_point.email)
    pledge = await pledges.submit(submission)
    await pledge.approve()
    state = await pledge.wait_for(lambda s: s.cycle == 1)
    state = await pledge.assert_registry_matches()

    assert state.status == PledgeStatus.published
    failed = [e.message for e in state.timeline if e.kind == "email_failed"]
    assert len(failed) == 2 and all("SMTP refused: 550 mailbox unavailable" in message for message in failed)
    assert failed[0].startswith("Email submission received to focal point failed")


async def test_an_unconfirmed_email_is_on_the_staff_timeline(pledges: Pledges, mailbox: Mailbox) -> None:
    """A message handed to the server whose answer never came (a worker killed between the ledger's claim
    and the message, the server gone quiet after DATA) is never sent again by itself: staff read so on the
    pledge's timeline, whatever the email, and can have it sent again."""
    submission = open_ended()
    mailbox.unconfirmed.add(submission.focal_point.email)
    pledge = await pledges.submit(submission)
    state = await pledge.assert_registry_matches()
    await record(pledge, "unconfirmed_submission_email")

    assert pledge.email_log() == [("submission_received", "focal_point"), ("review_requested", "vetting_team")]
    unconfirmed = [(e.message, e.public) for e in state.timeline if e.kind == "email_unconfirmed"]
    assert unconfirmed == [
        (
            "Email submission received to focal point handed to the mail server, not confirmed: unconfirmed: "
            "the attempt claiming it ended unrecorded; not sent again.",
            False,
        )
    ]
    assert state.status == PledgeStatus.in_review
