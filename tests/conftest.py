"""Fixtures that start the real servers: Temporal (dev and time-skipping), SQLite/PostgreSQL, SMTP.

- ``dev_env``: one Temporal dev server per test session, with Pledgeflow's search attributes.
- ``time_env``: a fresh time-skipping server per test (a shared one stops skipping).
- ``database_url``: parametrised over SQLite and PostgreSQL; each session gets its own PG database.
- ``empty_database_url``: the same pair, without tables, for tests of the migrations.
- ``smtp_sink``: an aiosmtpd server on a free port that keeps every message it accepts.
- ``stack``: settings + workers + an httpx client bound to the real app, on the dev server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import email
import email.policy
import os
import random
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from pledgeflow.core import db
from pledgeflow.core.settings import Settings
from pledgeflow.devstack import binaries
from pledgeflow.temporal.worker import build_workers
from workflows.search_attributes import KEYS as SEARCH_ATTRIBUTE_KEYS

PG_ADMIN_URL = os.environ.get("PLEDGEFLOW_TEST_PG", "postgresql+psycopg://root@127.0.0.1:5432/test")


def free_port() -> int:
    """A free port for a server this test binds at once (it comes from the ephemeral range)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Below Linux's ephemeral range (32768-60999), from which outgoing connections take their local ports.
LISTEN_PORTS = range(20_000, 32_000)


def listening_port() -> int:
    """A free port for a server another process binds seconds later (``pledgeflow dev``'s children).

    Not from the ephemeral range: there, any outgoing connection made meanwhile (to PostgreSQL, to a
    Temporal server) may be given the same port, and the server then fails with "address in use".
    """
    for _ in range(200):
        port = random.choice(LISTEN_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {LISTEN_PORTS}")


# --- Temporal -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binaries.temporal_cli(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTE_KEYS,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binaries.temporal_test_server(),
        data_converter=pydantic_data_converter,
    )
    yield env
    await env.shutdown()


# --- Database -------------------------------------------------------------------------------------


def _psql_admin(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(sql))
    engine.dispose()


def postgres_database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@contextmanager
def scratch_postgres(prefix: str, template: str | None = None) -> Iterator[str]:
    """A PostgreSQL database of its own, empty or a copy of ``template``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _psql_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url = postgres_database_url(name)
    try:
        yield url
    finally:
        db.engine_for(url).dispose()
        _psql_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def set_read_only(url: str, on: bool) -> None:
    """PostgreSQL refuses every write to the database from now on (or accepts them again). The setting
    applies to new sessions, so the open ones are ended, as a failover to a read-only replica ends them."""
    name = url.rsplit("/", 1)[1]
    _psql_admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}')
    _psql_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")  # noqa: S608


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with scratch_postgres("pledgeflow_test") as url:
        db.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'registry.db'}"
    db.upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables yet, for a test that runs the migrations itself; SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with scratch_postgres("pledgeflow_empty") as url:
        yield url


# --- SMTP -----------------------------------------------------------------------------------------


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def wait_for(self, count: int, timeout: float = 20) -> list[EmailMessage]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.05)
        return self.messages


@contextmanager
def running_smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with running_smtp_sink() as sink:
        yield sink


@pytest.fixture(scope="module")
def module_smtp() -> Iterator[SmtpSink]:
    """One SMTP sink for a whole test module (for module-scoped stacks)."""
    with running_smtp_sink() as sink:
        yield sink


# --- The stack ------------------------------------------------------------------------------------


METRICS_TOKEN = "test-metrics-token"


def make_settings(tmp_path: Path, database_url: str, smtp: SmtpSink | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": tmp_path / "home",
        "database_url": database_url,
        "secret_key": secrets.token_urlsafe(16),
        "task_queue": f"pledges-{uuid.uuid4().hex[:8]}",
        "email_task_queue": f"pledge-email-{uuid.uuid4().hex[:8]}",
        "dev_mode": True,
        # Tests submit and sign in far more often than anyone should; tests of the limits set their own.
        "rate_limit_submissions_per_address": "100000/minute",
        "rate_limit_submissions_per_email": "100000/minute",
        "rate_limit_staff_login": "100000/minute",
        "rate_limit_bad_staff_keys": "100000/minute",
        "rate_limit_inbound_webhook": "100000/minute",
        "metrics_token": METRICS_TOKEN,
    }
    if smtp is not None:
        values.update(smtp_host=smtp.host, smtp_port=smtp.port)
    values.update(overrides)
    return Settings(**values)


@dataclass
class Stack:
    settings: Settings
    client: Client
    http: httpx.AsyncClient
    smtp: SmtpSink


@asynccontextmanager
async def run_workers(client: Client, settings: Settings) -> AsyncIterator[list[Worker]]:
    """Pledgeflow's workers on ``client`` for the ``async with`` block; stopped however the block ends, so a
    failed test leaves no worker polling beside the next test's."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        workers = list(build_workers(client, settings, executor))
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        try:
            yield workers
        finally:
            for worker in workers:
                await worker.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def stack(
    dev_env: WorkflowEnvironment, database_url: str, smtp_sink: SmtpSink, tmp_path: Path
) -> AsyncIterator[Stack]:
    """Workers and the API on the session's dev server, with this test's database and SMTP sink."""
    settings = make_settings(tmp_path, database_url, smtp_sink)
    async with run_workers(dev_env.client, settings):
        transport = httpx.ASGITransport(app=create_app(settings, dev_env.client))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield Stack(settings=settings, client=dev_env.client, http=http, smtp=smtp_sink)
