"""The pledge-email queue holds the SMTP provider's rate: 1,000 emails at 50 per second take 20 s or more.

A small workflow fans out 1,000 ``send_email`` activities; the real worker (``pledgeflow.temporal.worker``) runs them
on the email queue with its server-side rate limit. The SMTP server is aiosmtpd's own Sink in a process of
its own, so that the sending side has the CPU it needs to outrun the limit: the test is about the limit
holding the pace, not the machine. What was sent is read from the send ledger (a key is marked sent only
after the server's 250). This one test takes ~25 s.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlmodel import select
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from pledgeflow.core.db import session_for
from pledgeflow.core.models import SentEmail
from tests.activities.test_email_templates import request_for
from tests.conftest import free_port, make_settings, run_workers
from workflows.emails import EmailKind, EmailOutcome, EmailRequest

COUNT = 1_000
RATE = 50.0


@pytest.fixture
def sink_port() -> Iterator[int]:
    """aiosmtpd's Sink handler (accepts and discards) in its own process."""
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our interpreter, fixed arguments
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.1)
    yield port
    server.terminate()
    server.wait(timeout=10)


class FanOut(BaseModel):
    template: EmailRequest
    count: int
    email_queue: str


@workflow.defn(name="SendMany")
class SendMany:
    @workflow.run
    async def run(self, fan_out: FanOut) -> int:
        outcomes = await asyncio.gather(
            *(
                workflow.execute_activity(
                    "send_email",
                    fan_out.template.model_copy(update={"cycle": cycle}),
                    result_type=EmailOutcome,
                    task_queue=fan_out.email_queue,
                    start_to_close_timeout=timedelta(seconds=30),
                )
                for cycle in range(1, fan_out.count + 1)
            )
        )
        return sum(outcome.state == "sent" for outcome in outcomes)


async def send_many(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str, sink_port: int, count: int, rate: float
) -> tuple[float, list[SentEmail]]:
    """Send ``count`` emails through the real worker limited to ``rate``; the time taken and the ledger."""
    settings = make_settings(
        tmp_path, database_url, smtp_host="127.0.0.1", smtp_port=sink_port, email_rate_per_second=rate
    )
    template = request_for(EmailKind.submission_received).model_copy(
        update={"pledge_id": f"PF-{uuid.uuid4().hex[:7].upper()}"}
    )
    fan_out_queue = f"fan-out-{uuid.uuid4().hex[:8]}"
    async with (
        run_workers(dev_env.client, settings),
        Worker(
            dev_env.client, task_queue=fan_out_queue, workflows=[SendMany], workflow_runner=UnsandboxedWorkflowRunner()
        ),
    ):
        started = time.monotonic()
        sent = await dev_env.client.execute_workflow(
            SendMany.run,
            FanOut(template=template, count=count, email_queue=settings.email_task_queue),
            id=f"send-many-{uuid.uuid4().hex}",
            task_queue=fan_out_queue,
        )
        elapsed = time.monotonic() - started
    print(f"\n{count} emails at {rate:g}/s took {elapsed:.1f} s")
    assert sent == count
    with session_for(settings.database_url) as session:
        entries = list(session.exec(select(SentEmail).where(SentEmail.pledge_id == template.pledge_id)))
    assert len({entry.message_id for entry in entries if entry.state == "sent"}) == count
    return elapsed, entries


def paced_seconds(entries: list[SentEmail]) -> float:
    """From the first to the last 250 the SMTP server gave."""
    sent_at = sorted(entry.sent_at for entry in entries if entry.sent_at is not None)
    return (sent_at[-1] - sent_at[0]).total_seconds()


async def test_a_thousand_emails_at_fifty_per_second_take_at_least_twenty_seconds(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, sink_port: int
) -> None:
    elapsed, entries = await send_many(dev_env, tmp_path, sqlite_url, sink_port, COUNT, RATE)
    assert elapsed >= COUNT / RATE
    # What reached the SMTP server was paced too: after at most one second's burst, RATE per second.
    assert paced_seconds(entries) >= (COUNT - RATE) / RATE


async def test_a_low_limit_holds_where_the_machine_would_send_far_faster(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, sink_port: int
) -> None:
    """On a busy 2-core machine the worker may not outrun 50/s, so the test above cannot always tell a
    working limit from a slow machine. Without a limit this worker sends 40 emails in about 2 s: at 4 per
    second they must spread over 9 s or more."""
    count, rate = 40, 4.0
    _, entries = await send_many(dev_env, tmp_path, sqlite_url, sink_port, count, rate)
    assert paced_seconds(entries) >= (count - rate) / rate
