"""docs/lifecycle.md §1-4: submission, vetting by staff, revision rounds, abandonment, publication."""

from __future__ import annotations

import pytest

from pledgeflow.core.settings import Settings
from pledgeflow.temporal.pledge_client import Refusal
from tests.factories import make_submission
from tests.workflows.driver import DAY, HOUR, Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import ClosureReason, Decision, PledgeState, PledgeStatus


async def test_submission_then_approval_publishes_and_schedules_the_first_report(pledges: Pledges) -> None:
    pledge = await pledges.submit(make_submission())
    state = await pledge.assert_registry_matches()
    assert state.status == PledgeStatus.in_review
    assert pledge.email_log() == [("submission_received", "focal_point"), ("review_requested", "vetting_team")]
    assert state.next_step == "reminder to the vetting team"
    assert state.next_deadline == state.submitted_at + 7 * DAY

    await pledges.skip(2 * DAY)
    result = await pledge.approve("vera")
    assert result.status == PledgeStatus.published

    state = await pledge.assert_registry_matches()
    assert state.published_at is not None and state.cycle == 1
    assert state.cycle_due_at == state.published_at + 365 * DAY
    assert [(e.registry_actor, e.kind, e.public) for e in state.timeline] == [
        ("pledger", "submitted", True),
        ("staff:vera", "approved", True),
        ("system", "published", True),
    ]
    published = pledge.emails(EmailKind.published)
    assert [(s.to, s.request.context["first_report_due"]) for s in published] == [
        ("focal_point", state.cycle_due_at.isoformat())
    ]
    assert (state.next_step, state.next_deadline) == ("report request for cycle 1", state.cycle_due_at)
    visible = await pledge.search_attributes()
    assert visible == {
        "PledgeStatus": "published",
        "PledgeOrganization": "Connect Africa Foundation",
        "PledgeNextDeadline": state.cycle_due_at.isoformat(),
        "PledgeMissedCycles": 0,
        "PledgeSDGs": ["4", "9"],
        "PledgeCountries": ["KEN"],
        "TemporalChangeVersion": ["10-baseline"],  # every run takes today's changes (workflows/changes.py)
    }


async def test_vetting_reminder_after_7_days_escalation_after_14_and_never_a_decision(
    pledges: Pledges, settings: Settings
) -> None:
    pledge = await pledges.submit(make_submission())
    submitted = (await pledge.state()).submitted_at

    await pledges.skip(7 * DAY + HOUR)
    await pledge.settled()
    await pledges.skip(7 * DAY)
    await pledge.settled()
    await pledges.skip(200 * DAY)
    state = await pledge.assert_registry_matches()

    assert state.status == PledgeStatus.in_review
    staff_mail = [(s.kind, s.request.recipient.email, s.at - submitted) for s in pledge.emails()[2:]]
    assert [(kind, to) for kind, to, _ in staff_mail] == [
        (EmailKind.review_overdue, settings.vetting_team_email),
        (EmailKind.review_escalated, settings.vetting_lead_email),
    ]
    assert [round(elapsed / DAY) for _, _, elapsed in staff_mail] == [7, 14]
    assert [e.kind for e in state.timeline] == ["submitted", "review_overdue", "review_escalated"]
    assert not any(e.public for e in state.timeline[1:]), "vetting reminders are for staff only"
    assert (state.next_step, state.next_deadline) == ("a vetting decision by staff (never automatic)", None)


async def test_rejection_needs_a_note_and_closes_the_pledge(pledges: Pledges) -> None:
    pledge = await pledges.submit(make_submission())

    refusal = await pledge.refused(pledge.decide(Decision.reject, note="  "))
    assert (refusal.reason, refusal.pledge_status) == (Refusal.invalid, "in_review")
    assert "note" in refusal.message

    await pledge.decide(Decision.reject, note="The deliverables have no dates we can verify.")
    final: PledgeState = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.status, final.closure_reason) == (PledgeStatus.closed, ClosureReason.rejected)
    assert final.timeline[-1].message == "Rejected in vetting: The deliverables have no dates we can verify."
    assert final.timeline[-1].registry_actor == "staff:vera"  # the name stays in the staff-only actor
    rejected = pledge.emails(EmailKind.rejected)
    assert [(s.to, s.request.context["note"]) for s in rejected] == [
        ("focal_point", "The deliverables have no dates we can verify.")
    ]


async def test_changes_requested_then_revision_then_approval(pledges: Pledges) -> None:
    pledge = await pledges.submit(make_submission())
    note = "Please add a dated deliverable for the teacher training."
    await pledge.decide(Decision.request_changes, "vera", note)
    state = await pledge.settled()
    assert state.status == PledgeStatus.changes_requested
    assert state.changes_requested_at is not None
    [changes] = pledge.emails(EmailKind.changes_requested)
    assert changes.request.context == {
        "title": state.submission.title,
        "organization": state.submission.organization.name,
        "note": note,
        "deadline": (state.changes_requested_at + 30 * DAY).isoformat(),
    }

    refusal = await pledge.refused(pledge.approve())
    assert (refusal.reason, refusal.pledge_status) == (Refusal.not_allowed, "changes_requested")

    await pledges.skip(3 * DAY)
    revised = make_submission(title="Connecting 500 rural schools and training 2,000 teachers in Kenya")
    result = await pledge.revise(revised, expected_version=1)
    assert (result.status, result.submission_version) == (PledgeStatus.in_review, 2)

    await pledge.decide(Decision.request_changes, "vera", "Name the local operators, please.")
    await pledge.settled()
    refusal = await pledge.refused(pledge.revise(revised, expected_version=1))
    assert (refusal.reason, refusal.pledge_status) == (Refusal.stale, "changes_requested")
    await pledge.revise(revised, expected_version=2)
    await pledge.approve("sam")

    state = await pledge.wait_for(lambda s: s.cycle == 1)
    state = await pledge.assert_registry_matches()
    assert (state.status, state.submission_version, state.submission.title) == (
        PledgeStatus.published,
        3,
        revised.title,
    )
    assert [e.kind for e in state.timeline] == [
        "submitted",
        "changes_requested",
        "revised",
        "changes_requested",
        "revised",
        "approved",
        "published",
    ]
    # Each revision round asks the pledger and the vetting team again: no email is lost to the send ledger.
    assert pledge.email_log() == [
        ("submission_received", "focal_point"),
        ("review_requested", "vetting_team"),
        ("changes_requested", "focal_point"),
        ("review_requested", "vetting_team"),
        ("changes_requested", "focal_point"),
        ("review_requested", "vetting_team"),
        ("published", "focal_point"),
    ]
    await record(pledge, "revision_rounds")


async def test_a_revision_keeps_the_version_before_it_and_the_pledgers_language_reaches_every_email(
    pledges: Pledges,
) -> None:
    first = make_submission(language="fr")
    pledge = await pledges.submit(first)
    await pledge.decide(Decision.request_changes, "vera", "Précisez les opérateurs locaux, s'il vous plaît.")
    await pledge.settled()
    revised = make_submission(language="fr", title="Connecter 500 écoles rurales au Kenya avec Safaricom")
    await pledge.revise(revised, expected_version=1)
    state = await pledge.settled()
    # Staff see what the revision changed: the version before it rides along while the revision is in review.
    assert (state.submission_version, state.previous_submission) == (2, first)
    await pledge.approve("sam")
    state = await pledge.wait_for(lambda s: s.cycle == 1)
    assert state.previous_submission is None  # served its review; the cycles do not carry it
    to_the_pledger = [e.request for e in pledge.emails() if e.request.recipient.role == "focal_point"]
    assert [request.kind.value for request in to_the_pledger] == [
        "submission_received", "changes_requested", "published"
    ]  # fmt: skip
    assert {sent.request.language for sent in pledge.emails()} == {"fr"}  # staff mail is rendered in English
    await record(pledge, "revision_in_french")


async def test_no_revision_for_30_days_abandons_the_pledge(pledges: Pledges) -> None:
    pledge = await pledges.submit(make_submission())
    await pledge.decide(Decision.request_changes, "vera", "Please list the partner schools.")
    requested = (await pledge.settled()).changes_requested_at
    assert requested is not None

    await pledges.skip(14 * DAY + HOUR)
    state = await pledge.settled()
    assert state.status == PledgeStatus.changes_requested
    assert [(e.kind, e.message) for e in state.timeline[-2:]] == [
        ("revision_reminder", state.timeline[-2].message),
        ("email_sent", "Email revision reminder to focal point sent."),
    ]
    assert state.timeline[-2].message.startswith("Revision reminder queued; without a revision by ")
    await pledges.skip(16 * DAY)

    final: PledgeState = await pledge.handle.result()
    await pledge.assert_registry_matches()
    assert (final.status, final.closure_reason) == (PledgeStatus.closed, ClosureReason.abandoned)
    sent = [(s.kind.value, s.to, round((s.at - requested) / DAY)) for s in pledge.emails()[3:]]
    assert sent == [("revision_reminder", "focal_point", 14), ("abandoned", "focal_point", 30)]


@pytest.mark.parametrize("usd", [25_000_000])
async def test_large_pledge_needs_two_approvals_by_different_staff(pledges: Pledges, usd: float) -> None:
    submission = make_submission()
    submission = submission.model_copy(
        update={"resources": submission.resources.model_copy(update={"financial_usd": usd})}
    )
    pledge = await pledges.submit(submission)
    [review] = pledge.emails(EmailKind.review_requested)
    assert review.request.context["approvals_needed"] == 2

    first = await pledge.approve("vera")
    assert first.status == PledgeStatus.in_review
    refusal = await pledge.refused(pledge.approve("vera"))
    assert (refusal.reason, refusal.pledge_status) == (Refusal.forbidden, "in_review")
    assert "another person" in refusal.message

    await pledge.approve("sam")
    state = await pledge.wait_for(lambda s: s.cycle == 1)
    state = await pledge.assert_registry_matches()
    assert state.status == PledgeStatus.published
    assert [(e.registry_actor, e.kind, e.message) for e in state.timeline[1:3]] == [
        ("staff:vera", "approval_recorded", "Approval 1 of 2 recorded by the vetting team."),
        ("staff:sam", "approved", "Approved by the vetting team (2 approvals)."),
    ]
