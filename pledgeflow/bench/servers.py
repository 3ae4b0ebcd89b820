"""The real servers the parts run against, each started here and stopped when its ``async with`` ends.

- :func:`temporal_dev_server`: a Temporal dev server on free ports, started by the same code as
  ``pledgeflow dev`` (its argv, its child-process handling, its wait until the server answers).
- :func:`time_skipping_server`: the time-skipping test server, with Pledgeflow's search attributes.
- :func:`smtp_sink`: an aiosmtpd server on a free port that counts what it accepts.
- :func:`api_server`: the real app under uvicorn on a free port.
- :func:`scratch_database`: an empty, migrated registry database (SQLite file or PostgreSQL database).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, make_url, text
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from pledgeflow.core import db
from pledgeflow.core.settings import Settings
from pledgeflow.devstack import binaries, runner
from workflows.search_attributes import SEARCH_ATTRIBUTES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(home: Path, database_url: str, **overrides: Any) -> Settings:
    """Settings of one part: its own home and database, a fixed secret, ports that are free now, the default
    policy (whatever PLEDGEFLOW_POLICY says in this shell), then ``overrides``."""
    values: dict[str, Any] = {
        "policy": "default",
        "policy_file": None,
        "home": home,
        "database_url": database_url,
        "secret_key": "pledgeflow-bench-" + "k" * 32,
        "temporal_address": f"127.0.0.1:{free_port()}",
        "temporal_ui_port": free_port(),
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def temporal_dev_server(settings: Settings) -> AsyncIterator[Client]:
    """``pledgeflow dev``'s Temporal child (UI included, SQLite file under home), stopped afterwards."""
    settings.home.mkdir(parents=True, exist_ok=True)
    log_file = settings.home / "temporal.log"
    with log_file.open("wb") as output:
        child = runner.spawn_child(runner.temporal_argv(settings), output)
    try:
        yield await runner.wait_for_temporal(settings, child, log_file, asyncio.Event())
    finally:
        runner.stop_child(child)


@contextlib.asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binaries.temporal_test_server(), data_converter=pydantic_data_converter
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper().replace('LIST', '_LIST')}")
                    for name, kind in SEARCH_ATTRIBUTES.items()
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


@dataclass
class CountingSink:
    """aiosmtpd handler: accepts every message and counts it (the bench reads no message back)."""

    accepted: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted += 1
        return "250 Message accepted"


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[CountingSink, int]]:
    sink = CountingSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # Ctrl-C stops the bench, not just this server
        yield


@contextlib.asynccontextmanager
async def api_server(settings: Settings) -> AsyncIterator[str]:
    """The real app (``create_app``) under uvicorn on a free port; yields its base URL."""
    from api.app import create_app

    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises why uvicorn stopped
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@contextlib.contextmanager
def scratch_database(kind: str, folder: Path, postgres_url: str) -> Iterator[str]:
    """A migrated, empty registry: ``folder/registry.sqlite``, or a PostgreSQL database of its own on the
    server of ``postgres_url`` (created there, dropped afterwards)."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'registry.sqlite'}"
        db.upgrade(url)
        try:
            yield url
        finally:
            db.engine_for(url).dispose()
        return
    name = f"pledgeflow_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        db.upgrade(url)
        yield url
    finally:
        db.engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
