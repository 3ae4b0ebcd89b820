"""Fixtures for mail that comes back: a pledge workflow stand-in that records replies, the real receiver,
the app served over a socket, and a time-skipping server for the real workflow.

``ReplyRecorder`` takes the real signal name, so what it records is exactly what the pledge workflow
would be sent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.email import EmailActivities
from api.app import create_app
from pledgeflow.auth import reply_tokens
from pledgeflow.core import ids
from pledgeflow.core.settings import Settings
from pledgeflow.inbound.receiver import InboundServer
from tests.conftest import free_port, make_settings
from tests.workflows.conftest import register_search_attributes, run_pledge_worker
from tests.workflows.driver import Mailbox, Pledges
from workflows.state import SIGNAL_EMAIL_REPLY, EmailReply, workflow_id

QUERY_REPLIES = "replies"


@workflow.defn(name="ReplyRecorder")
class ReplyRecorder:
    def __init__(self) -> None:
        self.replies: list[EmailReply] = []

    @workflow.signal(name=SIGNAL_EMAIL_REPLY)
    def email_reply(self, reply: EmailReply) -> None:
        self.replies.append(reply)

    @workflow.query(name=QUERY_REPLIES)
    def recorded(self) -> list[EmailReply]:
        return self.replies

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@dataclass
class OpenPledge:
    pledge_id: str
    handle: WorkflowHandle[ReplyRecorder, None]
    reply_to: str  # the Reply-To address its report request carried

    async def replies(self) -> list[EmailReply]:
        return await self.handle.query(QUERY_REPLIES, result_type=list[EmailReply])


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """SQLite unless a test asks for ``postgres`` (``parametrize("settings", [...], indirect=True)``)."""
    backend = getattr(request, "param", "sqlite")
    return make_settings(tmp_path, str(request.getfixturevalue(f"{backend}_url")))


def reply_address(
    settings: Settings, pledge_id: str, cycle: int = 1, version: int = 1, issued: dt.date | None = None
) -> str:
    token = reply_tokens.issue(settings.signing_key(), pledge_id, cycle, version, today=issued)
    return reply_tokens.reply_address(token, settings.inbound_domain)


@pytest.fixture
async def pledge(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[OpenPledge]:
    """A running 'pledge workflow' awaiting the report of cycle 1."""
    queue = f"replies-{uuid.uuid4().hex[:8]}"
    pledge_id = ids.new_pledge_id()
    async with Worker(
        dev_env.client, task_queue=queue, workflows=[ReplyRecorder], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        handle = await dev_env.client.start_workflow(ReplyRecorder.run, id=workflow_id(pledge_id), task_queue=queue)
        yield OpenPledge(pledge_id, handle, reply_address(settings, pledge_id))
        await handle.terminate("test finished")


@pytest.fixture
async def inbound(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[InboundServer]:
    async with InboundServer(settings, dev_env.client, host="127.0.0.1", port=free_port()) as server:
        yield server


@pytest.fixture
async def env(time_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """A time-skipping server of the test's own, for the real pledge workflow."""
    await register_search_attributes(time_env.client)
    return time_env


@asynccontextmanager
async def serving(settings: Settings, client: Client, port: int) -> AsyncIterator[str]:
    """The app served by uvicorn on ``port``, as a mail provider or a browser reaches it: its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, client), host="127.0.0.1", port=port, log_level="warning")
    )
    running = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await running


@asynccontextmanager
async def real_mail(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[tuple[Pledges, InboundServer]]:
    """The real pledge workflow, sending through the real send_email to the settings' SMTP server, and the
    real inbound receiver on a port of its own."""
    email = EmailActivities(settings)
    async with (
        run_pledge_worker(env, settings, Mailbox(), send_email=email.send_email) as pledges,
        InboundServer(settings, env.client, host="127.0.0.1", port=free_port()) as server,
    ):
        yield pledges, server
