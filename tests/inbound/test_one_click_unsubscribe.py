"""Issue 9, acceptance 2: a one-click POST stops reminders for that contact only, over real SMTP and HTTP.

The real workflow on a time-skipping server sends its reminders through the real send_email to an aiosmtpd
sink; the app listens on a socket (uvicorn). The backup contact's reminder 2 carries List-Unsubscribe; a
mail scanner opens the link (GET) and nothing happens; the mail provider POSTs
``List-Unsubscribe=One-Click`` to it as RFC 8058 §3.2 has it (httpx: no cookie, no credentials), the
secretariat's email arrives, and the next reminder reaches the focal point and the secretariat but not the
backup contact, whose skip the staff timeline records.
"""

from __future__ import annotations

import asyncio
import re
from email.message import EmailMessage
from pathlib import Path

import httpx
from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from activities.email import EmailActivities
from pledgeflow.core.db import session_for
from pledgeflow.core.models import SentEmail
from tests.conftest import SmtpSink, free_port, make_settings
from tests.factories import open_ended
from tests.inbound.conftest import serving
from tests.workflows.conftest import run_pledge_worker
from tests.workflows.driver import DAY, Mailbox
from workflows.state import PledgeStatus

BACKUP = "peter@connect-africa.example"
FOCAL = "amina@connect-africa.example"


def of_kind(sink: SmtpSink, kind: str) -> list[EmailMessage]:
    return [message for message in sink.messages if message["X-Pledgeflow-Kind"] == kind]


async def arrived(sink: SmtpSink, kind: str, count: int) -> list[EmailMessage]:
    async with asyncio.timeout(20):
        while len(of_kind(sink, kind)) < count:
            await asyncio.sleep(0.05)
    return of_kind(sink, kind)


def addressed_to(messages: list[EmailMessage]) -> list[str]:
    return sorted(str(message["To"]).split("<")[-1].rstrip(">") for message in messages)


async def test_a_one_click_post_stops_reminders_to_that_contact_only(
    env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    port = free_port()
    settings = make_settings(tmp_path, sqlite_url, smtp_sink, public_base_url=f"http://127.0.0.1:{port}")
    email = EmailActivities(settings)
    async with (
        run_pledge_worker(env, settings, Mailbox(), send_email=email.send_email) as pledges,
        serving(settings, env.client, port),
    ):
        pledge = await pledges.published(open_ended())
        due = (await pledge.state()).cycle_due_at
        assert due is not None
        await pledges.skip_to(due + 31 * DAY)
        await pledge.settled()
        reminders = await arrived(smtp_sink, "reminder_2", 2)
        assert addressed_to(reminders) == [FOCAL, BACKUP]
        [to_backup] = [message for message in reminders if BACKUP in str(message["To"])]
        assert to_backup["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        found = re.fullmatch(r"<(\S+)>", str(to_backup["List-Unsubscribe"]).strip())
        assert found is not None
        url = found.group(1)
        assert url.startswith(f"{settings.public_base_url}/pledges/{pledge.id}/unsubscribe?token=")

        # A mail scanner follows the link, twice: a page with a button, and nothing done.
        before = await pledge.settled()
        for _ in range(2):
            async with httpx.AsyncClient() as scanner:
                opened = await scanner.get(url)
            assert opened.status_code == 200 and "Stop reminders to this address" in opened.text
        after = await pledge.settled()
        assert (after.reminders_stopped, after.timeline) == ([], before.timeline)
        assert of_kind(smtp_sink, "reminders_stopped") == []

        # The mail provider's one-click POST: the body RFC 8058 prescribes, no cookie, no redirect.
        async with httpx.AsyncClient() as provider:
            posted = await provider.post(
                url,
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        assert posted.status_code == 200, posted.text
        assert "Reminders stopped" in posted.text
        [told] = await arrived(smtp_sink, "reminders_stopped", 1)
        assert addressed_to([told]) == [settings.secretariat_email]
        told_text = told.get_body(("plain",))
        assert told_text is not None
        assert "Peter Mwangi <peter@connect-africa.example>" in " ".join(str(told_text.get_content()).split())

        # The next reminder, the final notice: the focal point and the secretariat, not the backup contact.
        await pledges.skip_to(due + 46 * DAY)
        state = await pledge.settled()
        assert state.status == PledgeStatus.report_overdue
        await arrived(smtp_sink, "final_notice", 2)
        assert addressed_to(of_kind(smtp_sink, "final_notice")) == [FOCAL, settings.secretariat_email]
        assert [e.message for e in state.timeline if e.kind == "email_skipped"] == [
            f"Email final notice to backup contact not sent: {BACKUP} unsubscribed from reminders."
        ]
        with session_for(settings.database_url) as session:
            ledger = session.exec(
                select(SentEmail.kind, SentEmail.recipient).where(
                    SentEmail.pledge_id == pledge.id, col(SentEmail.kind).in_(["reminder_2", "final_notice"])
                )
            ).all()
        assert sorted(ledger) == [
            ("final_notice", FOCAL),
            ("final_notice", settings.secretariat_email),
            ("reminder_2", FOCAL),
            ("reminder_2", BACKUP),
        ]
