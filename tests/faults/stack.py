"""The parts of Pledgeflow as separate processes on free ports, each of which the chaos loop can stop.

Temporal dev server (with the project's search attributes), ``pledgeflow worker``, ``pledgeflow api``, the
fault suite's SMTP sink (tests/faults/sink.py) and a fresh PostgreSQL database of this run. Their output goes
to files under the run's directory, named for the part, so a failure can be read afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlmodel import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from pledgeflow.core import db
from pledgeflow.core.models import SentEmail
from pledgeflow.devstack import binaries
from tests.conftest import PG_ADMIN_URL, listening_port, postgres_database_url
from workflows.search_attributes import SEARCH_ATTRIBUTES

START_TIMEOUT = 60.0
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]  # for the sink's ``python -m tests.faults.sink``


def _admin(sql: str, **parameters: str) -> None:
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(sql), parameters)
    finally:
        engine.dispose()


@dataclass
class Part:
    """One process of the stack, started again by :meth:`start` after a kill."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as output:
            output.write(f"\n--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            output.flush()
            # Run in the log's directory: no .env of a checkout is read, only the environment given.
            self.process = subprocess.Popen(  # noqa: S603  (argv built here)
                self.argv, env=self.env, cwd=self.log.parent, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flushing, in-flight work lost, as when a machine dies."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Proxy:
    """A TCP relay between the worker and Temporal that the chaos loop can freeze: while paused, nothing the
    worker sends (an activity's completion, say) reaches the server, and nothing comes back."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = listening_port()
        self.running = asyncio.Event()
        self.running.set()
        self.server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._generation = 0  # raised by cut(): what a pipe of an earlier generation holds is dropped
        self._relays: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, host="127.0.0.1", port=self.port, reuse_address=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._relays.add(task)
            task.add_done_callback(self._relays.discard)
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}
        await asyncio.gather(self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        generation = self._generation
        try:
            while chunk := await reader.read(65536):
                await self.running.wait()
                if generation != self._generation:
                    break
                writer.write(chunk)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def pause(self) -> None:
        self.running.clear()

    def cut_and_resume(self) -> None:
        """Cut every connection, dropping what was held, and let new ones through."""
        self._generation += 1
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        self.running.set()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        # Closing both ends lets every relay finish on its own; a cancelled one is logged by asyncio's
        # start_server as an error (Python 3.11).
        self.running.set()
        for writer in list(self._writers):
            writer.close()
        if self._relays:
            await asyncio.wait(self._relays, timeout=5)


@dataclass
class Stack:
    directory: Path
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    webhook_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    database: str = field(default_factory=lambda: f"pledgeflow_faults_{uuid.uuid4().hex[:10]}")
    temporal_port: int = field(default_factory=listening_port)
    api_port: int = field(default_factory=listening_port)
    smtp_port: int = field(default_factory=listening_port)
    control_port: int = field(default_factory=listening_port)
    parts: dict[str, Part] = field(default_factory=dict)
    client: Client | None = None
    staff_key: str = ""
    _control: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    held: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    _answers: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    _reading: asyncio.Task[None] | None = None
    proxy: Proxy | None = None

    @property
    def database_url(self) -> str:
        return postgres_database_url(self.database)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def mail_record(self) -> Path:
        return self.directory / "mail.jsonl"

    def env(self) -> dict[str, str]:
        settings = {
            "HOME": str(self.directory / "home"),
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": f"127.0.0.1:{self.temporal_port}",
            "API_HOST": "127.0.0.1",
            "API_PORT": str(self.api_port),
            "PUBLIC_BASE_URL": self.api,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            # Short, so a hung server costs a retry in seconds, not the default half minute.
            "SMTP_TIMEOUT_SECONDS": "10",
            "EMAIL_RATE_PER_SECOND": "50",
            "SECRET_KEY": self.secret_key,
            "INBOUND_WEBHOOK_SECRET": self.webhook_secret,
            "POLICY": "demo",
            # One client address and many pledges: the limits are not what this suite measures.
            "RATE_LIMIT_SUBMISSIONS_PER_ADDRESS": "100000/hour",
            "RATE_LIMIT_SUBMISSIONS_PER_EMAIL": "100000/hour",
            "RATE_LIMIT_INBOUND_WEBHOOK": "100000/minute",
        }
        base = {key: value for key, value in os.environ.items() if not key.startswith("PLEDGEFLOW_")}
        return {**base, "PYTHONPATH": str(ROOT), **{f"PLEDGEFLOW_{key}": value for key, value in settings.items()}}

    # --- start and stop ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "home").mkdir(exist_ok=True)
        env = self.env()
        temporal = [
            binaries.temporal_cli(), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.temporal_port),
            "--headless", "--log-level", "error",
        ]  # fmt: skip
        for name, kind in SEARCH_ATTRIBUTES.items():
            temporal += ["--search-attribute", f"{name}={kind}"]
        pledgeflow = str(BIN / "pledgeflow")
        sink = [sys.executable, "-m", "tests.faults.sink", "--port", str(self.smtp_port),
                "--control", str(self.control_port), "--record", str(self.mail_record)]  # fmt: skip
        for name, argv in [
            ("temporal", temporal),
            ("sink", sink),
            ("worker", [pledgeflow, "worker"]),
            ("api", [pledgeflow, "api"]),
        ]:
            self.parts[name] = Part(name, argv, env, self.directory / f"{name}.log")

        self.proxy = Proxy(self.temporal_port)
        await self.proxy.start()
        self.parts["worker"].env = {**env, "PLEDGEFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{self.proxy.port}"}
        _admin(f'CREATE DATABASE "{self.database}"')
        await asyncio.to_thread(db.upgrade, self.database_url)
        self.staff_key = await asyncio.to_thread(self._add_staff, env)
        self.parts["temporal"].start()
        self.parts["sink"].start()
        self.client = await self._connect()
        await self._open_control()
        self.parts["worker"].start()
        self.parts["api"].start()
        await self.wait_for_api()

    def _add_staff(self, env: dict[str, str]) -> str:
        done = subprocess.run(  # noqa: S603
            [str(BIN / "pledgeflow"), "staff", "add", "Fault Vetter", "--role", "admin"],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip().splitlines()[-1]

    async def _connect(self) -> Client:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                client = await Client.connect(f"127.0.0.1:{self.temporal_port}", data_converter=pydantic_data_converter)
                await client.service_client.check_health()
                return client
            except (RuntimeError, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)

    async def wait_for_api(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        async with httpx.AsyncClient(base_url=self.api, timeout=5) as http:
            while True:
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if not self.parts["api"].alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"pledgeflow api did not start; see {self.parts['api'].log}")
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._reading is not None:
            self._reading.cancel()
        for name in ("api", "worker", "sink", "temporal"):
            if name in self.parts:
                self.parts[name].stop()
        if self.proxy is not None:
            await self.proxy.stop()
        _admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # --- the SMTP sink's control line ----------------------------------------------------------------

    async def _open_control(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self._control = await asyncio.open_connection("127.0.0.1", self.control_port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        self._reading = asyncio.create_task(self._read_control())

    async def _read_control(self) -> None:
        assert self._control is not None
        reader = self._control[0]
        while line := await reader.readline():
            message = json.loads(line)
            if "held" in message:
                await self.held.put(message["held"])
            else:
                await self._answers.put(message)

    async def smtp(self, **command: Any) -> None:
        """Send the sink one command (see tests/faults/sink.py) and wait for its answer."""
        assert self._control is not None
        writer = self._control[1]
        writer.write((json.dumps(command) + "\n").encode())
        await writer.drain()
        await asyncio.wait_for(self._answers.get(), timeout=10)

    # --- the registry database -----------------------------------------------------------------------

    def database_down(self) -> None:
        """No new connection is allowed and every open one is cut: what clients see of a dead server."""
        _admin(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
        _admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name", name=self.database)

    def database_up(self) -> None:
        _admin(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')

    def ledger_state(self, message_id: str) -> str | None:
        """What the send ledger says of the message with this Message-ID (None: nothing yet)."""
        with db.session_for(self.database_url) as session:
            entry = session.exec(select(SentEmail).where(SentEmail.message_id == message_id)).first()
            return entry.state if entry is not None else None


def read_mail(record: Path) -> list[dict[str, Any]]:
    """Every message the sink was given, in arrival order. The sink, a process of its own, may be writing the
    last line right now: only lines it ended are read."""
    if not record.exists():
        return []
    *ended, _unfinished = record.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in ended if line.strip()]
