"""Replying to a report request over SMTP: aiosmtplib as the pledger's mail server, the real receiver,
the registry database and a workflow on the Temporal dev server."""

from __future__ import annotations

import datetime as dt
import uuid
from email.message import EmailMessage

import aiosmtplib
import pytest
from temporalio.testing import WorkflowEnvironment

from pledgeflow.core.db import session_for
from pledgeflow.core.models import InboundMessage
from pledgeflow.core.settings import Settings
from pledgeflow.inbound.receiver import InboundServer
from tests.conftest import free_port
from tests.factories import registry_row
from tests.inbound.conftest import OpenPledge, reply_address
from tests.inbound.replies import PUBLISHED_TEXT, gmail_reply, out_of_office, outlook_reply


async def deliver(server: InboundServer, message: EmailMessage, sender: str = "amina@connect-africa.example") -> str:
    """Hand the message to the receiver as the pledger's mail server would; the receiver's final answer."""
    recipients = [address.split("<")[-1].rstrip(">") for address in str(message["To"]).split(",")]
    _, answer = await aiosmtplib.send(
        message, sender=sender, recipients=recipients, hostname=server.host, port=server.port
    )
    return answer.removeprefix("2.0.0 ")  # the enhanced status code


def kept(settings: Settings, message: EmailMessage) -> InboundMessage | None:
    with session_for(settings.database_url) as session:
        return session.get(InboundMessage, str(message["Message-ID"]))


@pytest.mark.parametrize("settings", ["sqlite", "postgres"], indirect=True)
async def test_a_gmail_reply_counts_once_with_only_its_new_text(
    settings: Settings, pledge: OpenPledge, inbound: InboundServer
) -> None:
    message = gmail_reply(pledge.reply_to)
    answer = await deliver(inbound, message)
    assert answer.startswith("accepted: counted as the report for cycle 1")

    [reply] = await pledge.replies()
    assert reply.text == PUBLISHED_TEXT
    assert (reply.cycle, reply.sender, reply.message_id) == (1, "amina@connect-africa.example", message["Message-ID"])
    row = kept(settings, message)
    assert row is not None and row.outcome == "accepted" and row.pledge_id == pledge.pledge_id
    assert b"On Wed, 14 Apr 2027 at 09:00" in row.raw  # the raw message, quote and all, is kept

    # The sending server retries (say, it never saw our 250): the same reply is not counted again.
    assert (await deliver(inbound, message)).startswith("duplicate")
    assert len(await pledge.replies()) == 1


async def test_an_outlook_reply_yields_only_its_new_text(pledge: OpenPledge, inbound: InboundServer) -> None:
    await deliver(inbound, outlook_reply(pledge.reply_to))
    assert [reply.text for reply in await pledge.replies()] == [PUBLISHED_TEXT]


async def test_an_out_of_office_reply_is_kept_and_ignored(
    settings: Settings, pledge: OpenPledge, inbound: InboundServer
) -> None:
    message = out_of_office(pledge.reply_to)
    answer = await deliver(inbound, message)
    assert answer.startswith("auto_reply: automatic reply ignored (Auto-Submitted: auto-replied)")
    assert await pledge.replies() == []
    row = kept(settings, message)
    assert row is not None and row.outcome == "auto_reply"


async def test_a_reply_too_short_to_be_a_report_is_kept_but_not_counted(
    settings: Settings, pledge: OpenPledge, inbound: InboundServer
) -> None:
    message = gmail_reply(pledge.reply_to, new_text="Thanks, will do!")
    answer = await deliver(inbound, message)
    assert "too_short: kept, not counted as a report: 16 characters of new text, 20 needed" in answer
    assert await pledge.replies() == []
    row = kept(settings, message)
    assert row is not None and row.outcome == "too_short"


async def test_a_reply_for_a_closed_pledge_is_kept_with_that_outcome(
    settings: Settings, inbound: InboundServer
) -> None:
    message = gmail_reply(reply_address(settings, "PF-CL0SED1"))  # no workflow runs for this pledge
    assert (await deliver(inbound, message)).startswith("pledge_closed")
    row = kept(settings, message)
    assert row is not None and row.outcome == "pledge_closed"


def _revoke(settings: Settings, pledge_id: str) -> None:
    with session_for(settings.database_url) as session:
        session.add(registry_row(pledge_id, "report_due", token_version=2))
        session.commit()


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("unknown", "reply address invalid"),
        ("expired", "reply address expired"),
        ("revoked", "reply address revoked"),
        ("other-domain", "is not a reply address of this registry"),
        ("plain", "is not a reply address of this registry"),
    ],
)
async def test_an_unknown_expired_or_revoked_address_is_refused_and_signals_nothing(
    settings: Settings, pledge: OpenPledge, inbound: InboundServer, address: str, reason: str
) -> None:
    good = pledge.reply_to
    to = {
        "unknown": f"reply+{uuid.uuid4().hex}{uuid.uuid4().hex[:12]}@{settings.inbound_domain}",
        "expired": reply_address(settings, pledge.pledge_id, issued=dt.date.today() - dt.timedelta(days=400)),
        "revoked": good,
        "other-domain": good.replace(settings.inbound_domain, "elsewhere.example"),
        "plain": f"secretariat@{settings.inbound_domain}",
    }[address]
    if address == "revoked":
        _revoke(settings, pledge.pledge_id)
    message = gmail_reply(to)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await deliver(inbound, message)
    [refusal] = refused.value.recipients
    assert refusal.code == 550 and reason in refusal.message
    assert await pledge.replies() == []
    assert kept(settings, message) is None


async def test_with_the_registry_down_a_reply_is_deferred_not_bounced(
    dev_env: WorkflowEnvironment, pledge: OpenPledge, settings: Settings
) -> None:
    down = settings.model_copy(update={"database_url": f"postgresql+psycopg://root@127.0.0.1:{free_port()}/gone"})
    async with InboundServer(down, dev_env.client, host="127.0.0.1", port=free_port()) as server:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as deferred:
            await deliver(server, gmail_reply(pledge.reply_to))
    [answer] = deferred.value.recipients
    assert answer.code == 451 and "try again later" in answer.message
    assert await pledge.replies() == []
