"""Issue 9, acceptance 2: bounces over real SMTP. Every message leaves with its own return path; a DSN sent
there (aiosmtplib, null sender) makes the recipient do-not-email, and the next email to them is skipped
with a timeline entry. A bounce that reaches a reply address is kept and never counts as a report."""

from __future__ import annotations

import uuid
from email import message_from_string, policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from pledgeflow.auth import reply_tokens
from pledgeflow.core.db import session_for
from pledgeflow.core.models import EmailBounce, EmailSuppression, InboundMessage
from pledgeflow.inbound.receiver import InboundServer
from tests.conftest import SmtpSink, free_port, make_settings
from tests.factories import open_ended
from tests.inbound.conftest import real_mail
from tests.workflows.driver import DAY, HOUR
from workflows.state import PledgeStatus
from workflows.submission import Submission


def delivery_status_notification(to: str, recipient: str, status: str, action: str = "failed") -> EmailMessage:
    """A bounce as Postfix writes it (RFC 3464): a human part, the delivery-status part, the returned headers."""
    raw = (
        "From: MAILER-DAEMON@mx.connect-africa.example (Mail Delivery System)\r\n"
        f"To: {to}\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"\r\n\r\n'
        "--DSN\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        "--DSN\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.connect-africa.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {status[0]}50 {status} <{recipient}>: Recipient address rejected\r\n\r\n"
        "--DSN--\r\n"
    )
    parsed: EmailMessage = message_from_string(raw, policy=policy.default)  # type: ignore[assignment]
    return parsed


def with_own_focal_point() -> Submission:
    """A pledge whose focal point no other test writes to: the session's registry keeps the do-not-email list."""
    submission = open_ended()
    focal = submission.focal_point.model_copy(update={"email": f"amina.{uuid.uuid4().hex[:8]}@connect-africa.example"})
    return submission.model_copy(update={"focal_point": focal})


async def bounce(server: InboundServer, message: EmailMessage, to: str) -> str:
    _, answer = await aiosmtplib.send(message, sender="", recipients=[to], hostname=server.host, port=server.port)
    return answer


async def test_a_hard_bounce_to_the_return_path_suppresses_and_the_next_email_is_skipped(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    settings = make_settings(tmp_path, sqlite_url, smtp_sink)
    async with real_mail(env, settings) as (pledges, server):
        submission = with_own_focal_point()
        focal = submission.focal_point.email
        pledge = await pledges.published(submission)
        await smtp_sink.wait_for(3)  # review requested, submission received, published
        [published] = [e for e in smtp_sink.envelopes if b"X-Pledgeflow-Kind: published" in e.original_content]
        return_path = published.mail_from
        assert return_path.startswith("bounce+") and return_path.endswith(f"@{settings.inbound_domain}")

        answer = await bounce(server, delivery_status_notification(return_path, focal, "5.1.1"), return_path)
        assert f"{focal} is do-not-email: hard bounce 5.1.1" in answer
        with session_for(settings.database_url) as session:
            suppression = session.get(EmailSuppression, focal.lower())
            assert suppression is not None and suppression.reason == "hard bounce 5.1.1"

        due = (await pledge.state()).cycle_due_at
        assert due is not None
        await pledges.skip_to(due + HOUR)
        state = await pledge.settled()
        skipped = [e.message for e in state.timeline if e.kind == "email_skipped"]
        assert skipped == [
            f"Email report request to focal point not sent: {focal.lower()} is do-not-email (hard bounce 5.1.1)."
        ]
        assert not [e for e in smtp_sink.envelopes if b"X-Pledgeflow-Kind: report_request" in e.original_content]

        # The same bounce sent to the report request's reply address: kept, never a report.
        token = reply_tokens.issue(settings.signing_key(), pledge.id, 1, 1)
        reply_to = reply_tokens.reply_address(token, settings.inbound_domain)
        answer = await bounce(server, delivery_status_notification(reply_to, focal, "5.1.1"), reply_to)
        assert answer.startswith("2.0.0 auto_reply") or answer.startswith("auto_reply"), answer
        state = await pledge.settled()
        assert (state.status, state.reports) == (PledgeStatus.report_due, [])


async def test_soft_bounces_suppress_only_after_the_policy_number_in_a_row(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    settings = make_settings(tmp_path, sqlite_url, smtp_sink, soft_bounce_limit=2)
    async with real_mail(env, settings) as (pledges, server):
        submission = with_own_focal_point()
        focal = submission.focal_point.email
        await pledges.published(submission)
        await smtp_sink.wait_for(3)  # review requested, submission received, published
        mine = [e for e in smtp_sink.envelopes if focal in e.rcpt_tos]
        assert len(mine) == 2  # submission received, published
        first, second = (e.mail_from for e in mine)
        answer = await bounce(server, delivery_status_notification(first, focal, "4.2.2", "delayed"), first)
        assert "soft bounce 4.2.2" in answer and "(1 of 2 in a row)" in answer
        answer = await bounce(server, delivery_status_notification(second, focal, "4.2.2", "delayed"), second)
        assert f"{focal} is do-not-email: 2 soft bounces in a row (4.2.2)" in answer
        with session_for(settings.database_url) as session:
            mine_recorded = session.exec(select(EmailBounce).where(EmailBounce.recipient == focal)).all()
            assert [row.kind for row in mine_recorded] == ["soft", "soft"]


async def test_a_bounce_for_a_message_we_never_sent_is_refused(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(tmp_path, sqlite_url)
    async with InboundServer(settings, dev_env.client, host="127.0.0.1", port=free_port()) as server:
        unknown = f"bounce+{'0' * 32}@{settings.inbound_domain}"
        try:
            await bounce(server, delivery_status_notification(unknown, "x@example.org", "5.1.1"), unknown)
        except aiosmtplib.SMTPRecipientsRefused as refused:
            [refusal] = refused.recipients
            assert refusal.code == 550 and "no message of ours has this return path" in refusal.message
        else:
            raise AssertionError("the unknown return path was accepted")


async def test_a_bounce_never_reinstates_a_non_reporting_pledge(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    """Only a report reinstates (lifecycle.md §9): a DSN, whether it reaches the reply address of the
    non-reporting notice or that notice's return path, is kept and counts for nothing."""
    settings = make_settings(tmp_path, sqlite_url, smtp_sink)
    async with real_mail(env, settings) as (pledges, server):
        submission = with_own_focal_point()
        focal = submission.focal_point.email
        pledge = await pledges.published(submission)
        due = (await pledge.state()).cycle_due_at
        assert due is not None
        await pledges.skip_to(due + 91 * DAY)
        before = await pledge.settled()
        assert before.status == PledgeStatus.non_reporting
        [notice] = [e for e in smtp_sink.envelopes if b"X-Pledgeflow-Kind: non_reporting" in e.original_content]
        message = message_from_string(notice.original_content.decode(), policy=policy.default)
        reply_to, return_path = str(message["Reply-To"]), notice.mail_from
        assert reply_to.startswith("reply+") and return_path.startswith("bounce+")

        for to, outcome in ((reply_to, "auto_reply"), (return_path, "bounce")):
            dsn = delivery_status_notification(to, focal, "5.1.1")
            dsn["Message-ID"] = f"<dsn-{uuid.uuid4().hex}@mx.connect-africa.example>"
            answer = await bounce(server, dsn, to)
            assert answer.removeprefix("2.0.0 ").startswith(outcome), answer
            with session_for(settings.database_url) as session:
                kept = session.get(InboundMessage, str(dsn["Message-ID"]))
                assert kept is not None and kept.outcome == outcome

        after = await pledge.settled()
        assert (after.status, after.reports, after.last_report_at) == (PledgeStatus.non_reporting, [], None)
        assert after.timeline == before.timeline
        row = pledge.registry_row()
        assert row is not None and (row.status, row.last_report_at) == ("non_reporting", None)
