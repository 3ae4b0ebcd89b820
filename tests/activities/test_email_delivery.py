"""The send ledger against real SMTP servers: exactly one delivery where the server lets us know (docs/email.md §3).

Small aiosmtpd handlers play the SMTP server's part: one answers from a script (421, 550, stall after
DATA), and the ledger's state is read back from the real database.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from temporalio import workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import activities.email
from activities import email_ledger
from activities.email import CLAIM_HELD, CONTEXT_MISSING, SMTP_PERMANENT, EmailActivities
from pledgeflow.auth.tokens import Purpose, verify
from pledgeflow.core.db import session_for, upgrade
from pledgeflow.core.models import EmailSuppression, SentEmail, utcnow
from pledgeflow.core.settings import Settings
from tests.activities.test_email_templates import request_for
from tests.conftest import SmtpSink, free_port, make_settings, scratch_postgres, set_read_only
from tests.factories import registry_row
from workflows.emails import EmailKind, EmailOutcome, EmailRequest, Recipient


@dataclass
class ScriptedSmtp:
    """An SMTP server that answers RCPT and DATA from a script, then with 250."""

    host: str
    port: int
    rcpt_answers: list[str] = field(default_factory=list)
    # "stall": the server keeps the message, but its 250 comes only after stall_seconds (the client gave up)
    data_answers: list[str] = field(default_factory=list)
    stall_seconds: float = 0
    on_data: Callable[[], None] | None = None  # runs when the message is in, before the server's answer
    on_any_data: Callable[[], Awaitable[None]] | None = None  # runs before the answer to DATA, whatever it is
    delivered: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        answer = self.rcpt_answers.pop(0) if self.rcpt_answers else "250 OK"
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.on_any_data is not None:
            await self.on_any_data()
        answer = self.data_answers.pop(0) if self.data_answers else "250 Message accepted"
        if answer.startswith("250") or answer == "stall":
            if self.on_data is not None:
                self.on_data()
            self.envelopes.append(envelope)
            parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.delivered.append(parsed)  # type: ignore[arg-type]
        if answer == "stall":
            await asyncio.sleep(self.stall_seconds)
            answer = "250 Message accepted"
        return answer


@pytest.fixture
def smtp() -> Iterator[ScriptedSmtp]:
    server = ScriptedSmtp(host="127.0.0.1", port=free_port())
    controller = Controller(server, hostname=server.host, port=server.port)
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp: ScriptedSmtp) -> Settings:
    return make_settings(tmp_path, database_url, smtp_host=smtp.host, smtp_port=smtp.port, smtp_timeout_seconds=1)


def unique_request(kind: EmailKind = EmailKind.report_request, **context: Any) -> EmailRequest:
    """A request whose business key no other test (or earlier run on the shared database) uses."""
    request = request_for(kind, **context)
    return request.model_copy(update={"pledge_id": f"PF-{uuid.uuid4().hex[:7].upper()}"})


def ledger(settings: Settings, request: EmailRequest) -> SentEmail:
    with session_for(settings.database_url) as session:
        entry = session.get(SentEmail, request.business_key)
    assert entry is not None
    return entry


@workflow.defn(name="SendOneEmail")
class SendOneEmail:
    """Stands in for the pledge workflow: one send_email with a quick retry policy."""

    @workflow.run
    async def run(self, request: EmailRequest) -> EmailOutcome:
        return await workflow.execute_activity(
            "send_email",
            request,
            result_type=EmailOutcome,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(milliseconds=500)
            ),
        )


@asynccontextmanager
async def send_through(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Any]:
    queue = f"email-delivery-{uuid.uuid4().hex[:8]}"
    worker = Worker(
        env.client,
        task_queue=queue,
        workflows=[SendOneEmail],
        activities=[EmailActivities(settings).send_email],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )

    async def send(request: EmailRequest) -> EmailOutcome:
        return await env.client.execute_workflow(
            SendOneEmail.run, request, id=f"send-{uuid.uuid4().hex}", task_queue=queue
        )

    async with worker:
        yield send


@pytest.fixture
async def send_through_worker(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Any]:
    async with send_through(dev_env, settings) as send:
        yield send


async def test_a_retry_after_the_servers_250_sends_nothing_more(settings: Settings, smtp: ScriptedSmtp) -> None:
    activities, request = EmailActivities(settings), unique_request()
    first = await ActivityEnvironment().run(activities.send_email, request)
    again = await ActivityEnvironment().run(activities.send_email, request)
    assert first.state == again.state == "sent"
    assert again.message_id == first.message_id and again.detail == "already sent"
    assert len(smtp.delivered) == 1
    assert smtp.delivered[0]["Message-ID"] == first.message_id
    entry = ledger(settings, request)
    assert (entry.state, entry.attempts, entry.sent_at is not None) == ("sent", 1, True)


async def test_a_421_then_a_250_delivers_once(smtp: ScriptedSmtp, settings: Settings, send_through_worker: Any) -> None:
    smtp.data_answers = ["421 4.3.2 Service not available, closing channel"]
    request = unique_request()
    outcome = await send_through_worker(request)
    assert outcome.state == "sent"
    assert len(smtp.delivered) == 1
    entry = ledger(settings, request)
    assert (entry.state, entry.attempts) == ("sent", 2)
    assert entry.last_error is not None and entry.last_error.startswith("421")  # the operator sees why it waited


async def test_a_550_is_final_and_visible_to_operators(
    smtp: ScriptedSmtp, settings: Settings, send_through_worker: Any
) -> None:
    smtp.rcpt_answers = ["550 5.1.1 <amina@connect-africa.example>: mailbox unavailable"]
    request = unique_request()
    with pytest.raises(WorkflowFailureError) as failure:
        await send_through_worker(request)
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == SMTP_PERMANENT and cause.cause.non_retryable
    assert "mailbox unavailable" in cause.cause.message
    assert smtp.delivered == []
    entry = ledger(settings, request)
    assert (entry.state, entry.attempts) == ("failed", 1)  # not retried
    assert entry.last_error == "550 5.1.1 <amina@connect-africa.example>: mailbox unavailable"
    # Asked again later (say, after a restart), the ledger answers the same and sends nothing.
    with pytest.raises(ApplicationError, match="failed before: 550"):
        await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert smtp.delivered == []


async def test_a_timeout_after_data_is_not_resent(
    smtp: ScriptedSmtp, settings: Settings, send_through_worker: Any
) -> None:
    """The server kept the message but answered too late: a resend would deliver it twice (issue 14: 40 times)."""
    smtp.data_answers, smtp.stall_seconds = ["stall"], 2.0  # the client gives up after 1 s
    request = unique_request()
    outcome = await send_through_worker(request)
    assert outcome.state == "sent"
    assert outcome.detail.startswith("unconfirmed: SMTPReadTimeoutError while waiting for the answer to DATA")
    await asyncio.sleep(2.5)  # the stalled 250 arrives; nothing else does
    assert [message["Message-ID"] for message in smtp.delivered] == [outcome.message_id]
    entry = ledger(settings, request)
    assert (entry.state, entry.attempts) == ("unconfirmed", 1)
    # Asked again later, the ledger answers the same and sends nothing: an operator decides (ops resend-failed).
    again = await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert (again.state, again.detail) == ("sent", entry.last_error)
    assert len(smtp.delivered) == 1


def _claim_left_behind(settings: Settings, request: EmailRequest, age: timedelta) -> None:
    """The row an attempt leaves when its worker dies between its claim and its record (kill -9)."""
    claimed_at = utcnow() - age
    with session_for(settings.database_url) as session:
        session.add(
            SentEmail(
                business_key=request.business_key,
                pledge_id=request.pledge_id,
                cycle=request.cycle,
                kind=request.kind.value,
                recipient=request.recipient.email,
                message_id="<left-behind@pledgeflow.localhost>",
                state="claimed",
                attempts=0,  # an attempt is counted when it is recorded
                created_at=claimed_at,
                claimed_at=claimed_at,
            )
        )
        session.commit()


async def test_a_claim_of_a_dead_attempt_is_never_sent_again(settings: Settings, smtp: ScriptedSmtp) -> None:
    request = unique_request()
    _claim_left_behind(settings, request, age=timedelta(minutes=3))  # the 2-minute activity timeout ran out
    outcome = await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert outcome.state == "sent"
    assert outcome.detail.startswith("unconfirmed: the attempt claiming it at ")
    assert smtp.delivered == []
    entry = ledger(settings, request)
    assert (entry.state, entry.attempts) == ("unconfirmed", 1)


async def test_a_young_claim_waits_for_the_attempt_that_may_still_be_sending(
    settings: Settings, smtp: ScriptedSmtp
) -> None:
    request = unique_request()
    _claim_left_behind(settings, request, age=timedelta(seconds=1))  # within the SMTP timeout: maybe alive
    with pytest.raises(ApplicationError, match="may still be sending it") as held:
        await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert held.value.type == CLAIM_HELD and not held.value.non_retryable
    assert smtp.delivered == []
    assert ledger(settings, request).state == "claimed"


async def test_a_claim_another_attempt_took_after_the_look_up_sends_nothing(
    settings: Settings, smtp: ScriptedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is what decides: an attempt whose claim is refused writes no message after the server's 354."""
    request = unique_request()
    look_up = email_ledger.look_up

    def overtaken(url: str, looked_up: EmailRequest) -> email_ledger.Ledger:
        found = look_up(url, looked_up)
        _claim_left_behind(settings, looked_up, age=timedelta(seconds=0))  # another attempt, meanwhile
        return found

    monkeypatch.setattr(email_ledger, "look_up", overtaken)
    with pytest.raises(ApplicationError, match="claimed this email first") as held:
        await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert held.value.type == CLAIM_HELD
    assert smtp.delivered == [] and smtp.envelopes == []
    assert ledger(settings, request).message_id == "<left-behind@pledgeflow.localhost>"


async def test_a_message_that_cannot_be_written_after_its_claim_releases_the_claim(
    settings: Settings, smtp: ScriptedSmtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message is made ready while its claim commits; if it cannot be, nothing went after the 354, so the
    claim is released and a retry sends it."""
    request = unique_request()

    def broken(*args: Any, **kwargs: Any) -> bytes:
        raise ValueError("unwritable")

    with monkeypatch.context() as patched:
        patched.setattr(activities.email, "flatten_message", broken)
        with pytest.raises(ValueError, match="unwritable"):
            await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    entry = ledger(settings, request)
    assert (entry.state, entry.last_error) == ("sending", "not sent: the message could not be written (ValueError)")
    assert smtp.delivered == []
    outcome = await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert outcome.state == "sent" and len(smtp.delivered) == 1


async def test_a_database_turned_read_only_after_the_250_delivers_once(
    dev_env: WorkflowEnvironment, tmp_path: Path, smtp: ScriptedSmtp
) -> None:
    """Issue 14: "each email delivered 5 times in 12 s" when the ledger cannot be written after the 250."""
    with scratch_postgres("pledgeflow_readonly") as url:
        upgrade(url)
        settings = make_settings(tmp_path, url, smtp_host=smtp.host, smtp_port=smtp.port, smtp_timeout_seconds=1)
        loop = asyncio.get_running_loop()
        smtp.on_data = lambda: set_read_only(url, on=True)  # before the server's 250 leaves
        request = unique_request()
        async with send_through(dev_env, settings) as send:
            sending = asyncio.create_task(send(request))
            async with asyncio.timeout(10):
                while not smtp.delivered:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # a few retries meet the read-only database
            assert not sending.done()
            await loop.run_in_executor(None, set_read_only, url, False)
            outcome = await asyncio.wait_for(sending, 20)
        assert outcome.state == "sent" and outcome.detail == ""
        assert [message["Message-ID"] for message in smtp.delivered] == [outcome.message_id]
        entry = ledger(settings, request)
        assert (entry.state, entry.attempts, entry.sent_at is not None) == ("sent", 1, True)


async def test_a_claim_whose_release_the_database_refused_is_sent_once_it_is_back(
    dev_env: WorkflowEnvironment, tmp_path: Path, smtp: ScriptedSmtp
) -> None:
    """Issue 14's long fault run lost 11 emails: the server refused the message (a 451), and the database
    went away between the claim and its release. Nothing was sent, yet every retry found the claim and, past
    its grace, recorded the email "unconfirmed" and never sent it."""
    with scratch_postgres("pledgeflow_release") as url:
        upgrade(url)
        settings = make_settings(tmp_path, url, smtp_host=smtp.host, smtp_port=smtp.port, smtp_timeout_seconds=1)
        request = unique_request()
        loop = asyncio.get_running_loop()

        async def database_goes_once_claimed() -> None:  # in the server's own thread and loop
            smtp.on_any_data = None
            assert await asyncio.to_thread(_ledger_state, url, request) == "claimed"
            await asyncio.to_thread(set_read_only, url, True)

        smtp.data_answers = ["451 4.3.0 Try again later"]
        smtp.on_any_data = database_goes_once_claimed
        async with send_through(dev_env, settings) as send:
            sending = asyncio.create_task(send(request))
            await asyncio.sleep(9)  # past the claim's grace (2 x 1 s + 5 s), retries meet the read-only database
            assert not sending.done() and smtp.delivered == []
            await loop.run_in_executor(None, set_read_only, url, False)
            outcome = await asyncio.wait_for(sending, 20)
        assert outcome.state == "sent" and outcome.detail == ""
        assert [message["Message-ID"] for message in smtp.delivered] == [outcome.message_id]
        assert _ledger_state(url, request) == "sent"


def _ledger_state(url: str, request: EmailRequest) -> str | None:
    with session_for(url) as session:
        entry = session.get(SentEmail, request.business_key)
        return entry.state if entry is not None else None


async def test_a_do_not_email_contact_is_skipped_and_the_outcome_says_so(
    settings: Settings, smtp: ScriptedSmtp
) -> None:
    request = unique_request()
    address = f"bounced-{uuid.uuid4().hex[:6]}@connect-africa.example"
    request = request.model_copy(update={"recipient": Recipient(email=address, name="Amina", role="focal_point")})
    with session_for(settings.database_url) as session:
        session.add(EmailSuppression(email=address, reason="hard bounce", created_at=utcnow()))
        session.commit()
    outcome = await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert outcome.state == "skipped"
    assert outcome.detail == f"{address} is do-not-email (hard bounce)"
    assert smtp.delivered == []
    assert ledger(settings, request).state == "skipped"


async def test_a_request_missing_context_is_refused_without_retry(settings: Settings, smtp: ScriptedSmtp) -> None:
    request = unique_request()
    del request.context["cycle"]
    with pytest.raises(ApplicationError, match="report_request email needs cycle") as refused:
        await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert refused.value.type == CONTEXT_MISSING and refused.value.non_retryable
    assert smtp.delivered == []


async def test_links_carry_the_pledges_current_token_version(settings: Settings, smtp: ScriptedSmtp) -> None:
    request = unique_request(EmailKind.published)
    with session_for(settings.database_url) as session:
        session.add(registry_row(request.pledge_id, "published", token_version=4))
        session.commit()
    await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    text = smtp.delivered[0].get_body(("plain",))
    assert text is not None
    token = str(text.get_content()).split("?token=")[1].split()[0]
    assert verify(settings.signing_key(), token, Purpose.manage, 86_400).version == 4


async def test_a_line_break_in_a_title_cannot_add_a_recipient_or_header(
    tmp_path: Path, sqlite_url: str, smtp_sink: SmtpSink
) -> None:
    settings = make_settings(tmp_path, sqlite_url, smtp_sink)
    request = unique_request(EmailKind.published, title="Schools\r\nBcc: attacker@evil.example\r\nX-Evil: 1")
    outcome = await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert outcome.state == "sent"
    [message] = await smtp_sink.wait_for(1)
    assert smtp_sink.envelopes[0].rcpt_tos == ["amina@connect-africa.example"]
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "Schools Bcc: attacker@evil.example X-Evil: 1" in str(message["Subject"])


async def test_a_worker_talks_to_the_server_about_one_message_at_a_time(settings: Settings, smtp: ScriptedSmtp) -> None:
    """While the server holds its answer to one message's DATA (a worker killed now leaves that message
    unknowable), the worker's next message waits before MAIL: it has no claim that a kill would strand."""
    activities = EmailActivities(settings.model_copy(update={"smtp_timeout_seconds": 10}))
    first, second = unique_request(), unique_request(EmailKind.published, first_report_due="2027-12-01")
    arrived, answer = threading.Event(), threading.Event()  # the server runs in a thread of its own

    async def hold_the_first_answer() -> None:
        if not arrived.is_set():
            arrived.set()
            while not answer.is_set():
                await asyncio.sleep(0.02)

    smtp.on_any_data = hold_the_first_answer
    sending_first = asyncio.ensure_future(ActivityEnvironment().run(activities.send_email, first))
    assert await asyncio.to_thread(arrived.wait, 10)
    sending_second = asyncio.ensure_future(ActivityEnvironment().run(activities.send_email, second))
    await asyncio.sleep(1)
    assert _ledger_state(settings.database_url, second) is None, "the second message claimed while the first was open"
    assert len(smtp.envelopes) == 0 and not sending_second.done()

    answer.set()
    outcomes = await asyncio.wait_for(asyncio.gather(sending_first, sending_second), 20)
    assert [outcome.state for outcome in outcomes] == ["sent", "sent"]
    assert [str(m["Message-ID"]) for m in smtp.delivered] == [outcomes[0].message_id, outcomes[1].message_id]


async def test_a_send_cancelled_mid_conversation_finishes_it_and_records_the_outcome(
    settings: Settings, smtp: ScriptedSmtp
) -> None:
    """A worker stopping cancels its activities. One cancelled while the server holds its answer to DATA still
    hears the answer and records it: cut short there, it would leave the message claimed, and its retry could
    only call it unconfirmed."""
    request = unique_request()
    arrived, answer = threading.Event(), threading.Event()

    async def hold_the_answer() -> None:
        arrived.set()
        while not answer.is_set():
            await asyncio.sleep(0.02)

    smtp.on_any_data = hold_the_answer
    env = ActivityEnvironment()
    sending = asyncio.ensure_future(env.run(EmailActivities(settings).send_email, request))
    assert await asyncio.to_thread(arrived.wait, 10)
    env.cancel()
    await asyncio.sleep(0.5)
    assert not sending.done(), "the cancellation cut the conversation short"
    answer.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(sending, 20)
    assert _ledger_state(settings.database_url, request) == "sent"
    assert len(smtp.delivered) == 1
    again = await ActivityEnvironment().run(EmailActivities(settings).send_email, request)
    assert again.state == "sent" and len(smtp.delivered) == 1
