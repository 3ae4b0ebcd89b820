"""The pledge-email queue holds the SMTP provider's rate: 1,000 emails at 50 per second take 20 s or more.

A small workflow fans out 1,000 ``send_email`` activities; the real worker (``pledgeflow.temporal.worker``) runs them
on the email queue with its server-side rate limit. The SMTP server is aiosmtpd's own Sink in a process of
its own, so that the sending side has the CPU it needs to outrun the limit: the test is about the limit
holding the pace, not the machine. What the limit paces is read from the fan-out's history (when the server
handed each activity to the worker); what reached the SMTP server from the send ledger (a key is marked sent
only after the server's 250). This one test takes ~25 s.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from sqlmodel import select
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from pledgeflow.core.db import session_for
from pledgeflow.core.models import SentEmail
from tests.activities.test_email_templates import request_for
from tests.conftest import free_port, make_settings, run_workers
from workflows.emails import EmailKind, EmailOutcome, EmailRequest

COUNT = 1_000
RATE = 50.0
# How much sooner the last 250 may follow the first than the last dispatch the first: a message's 250 comes
# its own send time after its dispatch, and a worker's first send is its slowest (the ledger's first
# connection, the template's first compile). Without a limit the 40 emails below were handed over within
# 0.09 s and answered within 0.52 s here, far from 8.5.
FIRST_SEND_ALLOWANCE = 0.5


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


@dataclass
class Sent:
    elapsed: float  # seconds, the fan-out workflow's start to its result
    dispatched: list[datetime]  # when the server handed each send_email activity to the worker
    entries: list[SentEmail]  # the send ledger's rows


async def send_many(
    dev_env: WorkflowEnvironment, tmp_path: Path, database_url: str, sink_port: int, count: int, rate: float
) -> Sent:
    """Send ``count`` emails through the real worker limited to ``rate``."""
    settings = make_settings(
        tmp_path, database_url, smtp_host="127.0.0.1", smtp_port=sink_port, email_rate_per_second=rate
    )
    template = request_for(EmailKind.submission_received).model_copy(
        update={"pledge_id": f"PF-{uuid.uuid4().hex[:7].upper()}"}
    )
    fan_out_queue = f"fan-out-{uuid.uuid4().hex[:8]}"
    workflow_id = f"send-many-{uuid.uuid4().hex}"
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
            id=workflow_id,
            task_queue=fan_out_queue,
        )
        elapsed = time.monotonic() - started
    print(f"\n{count} emails at {rate:g}/s took {elapsed:.1f} s")
    assert sent == count
    dispatched = [
        event.event_time.ToDatetime()
        async for event in dev_env.client.get_workflow_handle(workflow_id).fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert len(dispatched) == count
    print(f"handed to the worker over {spread(dispatched):.2f} s")
    with session_for(settings.database_url) as session:
        entries = list(session.exec(select(SentEmail).where(SentEmail.pledge_id == template.pledge_id)))
    assert len({entry.message_id for entry in entries if entry.state == "sent"}) == count
    return Sent(elapsed, dispatched, entries)


def spread(times: list[datetime]) -> float:
    return (max(times) - min(times)).total_seconds()


def paced_seconds(entries: list[SentEmail]) -> float:
    """From the first to the last 250 the SMTP server gave."""
    return spread([entry.sent_at for entry in entries if entry.sent_at is not None])


async def test_a_thousand_emails_at_fifty_per_second_take_at_least_twenty_seconds(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, sink_port: int
) -> None:
    sent = await send_many(dev_env, tmp_path, sqlite_url, sink_port, COUNT, RATE)
    assert sent.elapsed >= COUNT / RATE
    # After at most one second's burst, RATE per second: handed to the worker, and so at the SMTP server.
    assert spread(sent.dispatched) >= (COUNT - RATE) / RATE
    assert paced_seconds(sent.entries) >= (COUNT - RATE) / RATE - FIRST_SEND_ALLOWANCE


async def test_a_low_limit_holds_where_the_machine_would_send_far_faster(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, sink_port: int
) -> None:
    """On a busy 2-core machine the worker may not outrun 50/s, so the test above cannot always tell a
    working limit from a slow machine. Without a limit this worker sends 40 emails in about 2 s: at 4 per
    second they must spread over 9 s or more."""
    count, rate = 40, 4.0
    sent = await send_many(dev_env, tmp_path, sqlite_url, sink_port, count, rate)
    assert spread(sent.dispatched) >= (count - rate) / rate
    assert paced_seconds(sent.entries) >= (count - rate) / rate - FIRST_SEND_ALLOWANCE
