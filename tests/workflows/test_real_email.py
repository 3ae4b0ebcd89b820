"""The lifecycle against the real send_email (templates, ledger, SMTP to an aiosmtpd sink): every kind
of email the ladder sends renders with the context the workflow gives it and reaches the server."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from activities.email import EmailActivities
from pledgeflow.core.db import session_for
from pledgeflow.core.models import SentEmail
from tests.conftest import SmtpSink, make_settings
from tests.factories import make_report, make_submission, open_ended
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import DAY, HOUR, Mailbox, Pledge, Pledges
from workflows.emails import EmailKind
from workflows.state import Decision, StopRemindersInput


async def test_every_email_kind_renders_and_reaches_the_smtp_server(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    settings = make_settings(tmp_path, sqlite_url, smtp_sink)
    email = EmailActivities(settings)
    async with run_pledge_worker(env, settings, Mailbox(), send_email=email.send_email) as pledges:
        all_pledges = await walk_every_path(pledges)
        for pledge in all_pledges:
            timeline = (await pledge.state()).timeline
            trouble = [e.message for e in timeline if e.kind.startswith("email_") and e.kind != "email_sent"]
            assert trouble == [], pledge.id

    ids = [pledge.id for pledge in all_pledges]
    with session_for(settings.database_url) as session:
        ledger = list(session.exec(select(SentEmail).where(col(SentEmail.pledge_id).in_(ids))))
    assert {entry.state for entry in ledger} == {"sent"}
    assert {EmailKind(entry.kind) for entry in ledger} == set(EmailKind)
    assert len(smtp_sink.messages) == len(ledger)


async def walk_every_path(pledges: Pledges) -> list[Pledge]:
    long_lived = await pledges.submit(open_ended())
    await pledges.skip(15 * DAY)
    await long_lived.decide(Decision.request_changes, note="Please add dated deliverables.")
    abandoned = await pledges.submit(open_ended())
    await abandoned.decide(Decision.request_changes, note="Please name the partner schools.")
    await pledges.skip(15 * DAY)
    await long_lived.revise(open_ended(), expected_version=1)
    await long_lived.approve()
    state = await long_lived.wait_for(lambda s: s.cycle == 1)
    assert state.cycle_due_at is not None
    await pledges.skip_to(state.cycle_due_at + HOUR)
    await long_lived.request_extension("The audit of the connected schools ends in March.")
    await long_lived.grant_extension(5)
    await long_lived.request_extension("The audit of the connected schools ends in April now.")
    await long_lived.refuse_extension("Please report what you have now.")
    await pledges.skip(100 * DAY)
    await long_lived.report(make_report())
    state = await long_lived.wait_for(lambda s: s.cycle == 2)
    assert state.cycle_due_at is not None

    end = (state.cycle_due_at + 30 * DAY).date()
    completed = await pledges.published(make_submission(start_date="2026-01-01", end_date=end.isoformat()))
    await completed.report(make_report(progress="completed", narrative="All 500 schools are connected now."))
    withdrawn = await pledges.submit(open_ended())
    await withdrawn.withdraw("Merged into the national plan.")
    rejected = await pledges.submit(open_ended())
    await rejected.decide(Decision.reject, note="Not a commitment with dated deliverables.")
    removed = await pledges.published(open_ended())
    backup = (await removed.state()).submission.backup_contact
    assert backup is not None
    await removed.pledge_client.stop_reminders(removed.id, StopRemindersInput(recipient=backup.email))
    await removed.renew_links()
    await removed.close("Duplicate of another pledge.")

    await pledges.skip_to(state.cycle_due_at + 460 * DAY)  # the long-lived pledge goes silent: delisted
    everyone = [long_lived, abandoned, completed, withdrawn, rejected, removed]
    for pledge in everyone:
        await pledge.handle.result()
    return everyone
