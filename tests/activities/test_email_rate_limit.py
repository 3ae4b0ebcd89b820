"""The pledge-email queue holds the SMTP provider's rate: 1,000 emails at 50 per second take 20 s or more,
and no second at the SMTP server holds more than 50 of them.

A small workflow fans out 1,000 ``send_email`` activities; the real worker (``pledgeflow.temporal.worker``) runs them
on the email queue. Two limits hold the rate (docs/email.md §4): Temporal's on the task queue, across workers,
which hands a second's burst over at once (read from the fan-out's history: when the server handed each
activity to the worker), and the worker's own pace, one MAIL per 1/rate seconds (read from the send ledger:
a key is marked sent only after the server's 250, and before the worker's next MAIL). The SMTP server is
aiosmtpd's own Sink in a process of its own, so that the sending side has the CPU it needs to outrun the
limit: the test is about the limit holding the pace, not the machine. This one test takes ~25 s.
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


def answered(entries: list[SentEmail]) -> list[datetime]:
    """When the SMTP server gave each 250."""
    return sorted(entry.sent_at for entry in entries if entry.sent_at is not None)


def busiest_second(times: list[datetime]) -> int:
    """The most of ``times`` that fall within less than a second of each other."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while (moment - ordered[first]).total_seconds() >= 1:
            first += 1
        most = max(most, last - first + 1)
    return most


def assert_paced(sent: Sent, count: int, rate: float) -> None:
    """What each limit guarantees, whatever the machine's speed.

    Temporal's: after at most one second's burst, ``rate`` dispatches a second. The worker's: MAILs 1/rate
    apart, each after the 250 before it is recorded; so the 250s from the second to the last span
    ``count - 2`` intervals, and a second holding ``k + 1`` of them holds ``k`` MAILs, so ``k <= rate``.
    Without the worker's pace, two runs of this test saw 104 and 76 250s in their busiest second at 50/s.
    """
    times = answered(sent.entries)
    print(f"busiest second: {busiest_second(times)} 250s, {busiest_second(sent.dispatched)} dispatches")
    assert spread(sent.dispatched) >= (count - rate) / rate
    assert spread(times) >= (count - 2) / rate
    assert busiest_second(times) <= rate + 1


async def test_a_thousand_emails_at_fifty_per_second_take_at_least_twenty_seconds(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, sink_port: int
) -> None:
    sent = await send_many(dev_env, tmp_path, sqlite_url, sink_port, COUNT, RATE)
    assert sent.elapsed >= COUNT / RATE
    assert_paced(sent, COUNT, RATE)


async def test_a_low_limit_holds_where_the_machine_would_send_far_faster(
    dev_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str, sink_port: int
) -> None:
    """On a busy 2-core machine the worker may not outrun 50/s, so the test above cannot always tell a
    working limit from a slow machine. Without a limit this worker sends 40 emails in about 2 s: at 4 per
    second their 250s must spread over 9.5 s or more, and no second may hold more than 5 of them."""
    count, rate = 40, 4.0
    sent = await send_many(dev_env, tmp_path, sqlite_url, sink_port, count, rate)
    assert_paced(sent, count, rate)
