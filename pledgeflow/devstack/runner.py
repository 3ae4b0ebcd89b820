"""``pledgeflow dev``: the whole stack in one process tree that one Ctrl-C (or SIGTERM) stops.

The Temporal dev server (with its Web UI, a persistent file under home and Pledgeflow's search
attributes) is the one child process; everything else runs in this process's event loop: the
database migration, the SMTP sink, the inbound receiver, the worker and the API. The child runs in
its own session so a terminal's Ctrl-C reaches only us and we stop the parts in order (the worker
before the server it talks to), and it asks the kernel for SIGKILL when we die, so even a SIGKILLed
``pledgeflow dev`` leaves nothing running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import uvicorn
from sqlmodel import select
from temporalio.client import Client

from api.access_log import uvicorn_log_config
from api.app import create_app
from pledgeflow.auth.staff_keys import Role, add_staff, authenticate
from pledgeflow.core import db
from pledgeflow.core.models import StaffAccount
from pledgeflow.core.settings import Settings
from pledgeflow.devstack import binaries, mailsink
from pledgeflow.inbound import receiver
from pledgeflow.temporal.connection import connect
from pledgeflow.temporal.worker import run_workers
from workflows.policy import load_policy
from workflows.search_attributes import SEARCH_ATTRIBUTES

TEMPORAL_START_TIMEOUT = 60.0
TEMPORAL_STOP_TIMEOUT = 10.0
DEV_STAFF_NAME = "dev-admin"
LOCAL_HOSTS = {"localhost", "127.0.0.1"}
PR_SET_PDEATHSIG = 1

log = logging.getLogger("pledgeflow.devstack.runner")


class DevError(Exception):
    """Something the developer must fix before the stack can start; the message is one line."""


# --- Ports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    what: str
    host: str
    port: int
    setting: str


def temporal_port(settings: Settings) -> int:
    host, _, port = settings.temporal_address.rpartition(":")
    if host not in LOCAL_HOSTS or not port.isdigit():
        raise DevError(
            f"pledgeflow dev runs its own Temporal on this machine; PLEDGEFLOW_TEMPORAL_ADDRESS must be "
            f"localhost:PORT or 127.0.0.1:PORT, not {settings.temporal_address!r}"
        )
    return int(port)


def listeners(settings: Settings) -> list[Listener]:
    return [
        Listener("Temporal", "127.0.0.1", temporal_port(settings), "PLEDGEFLOW_TEMPORAL_ADDRESS"),
        Listener("Temporal UI", "127.0.0.1", settings.temporal_ui_port, "PLEDGEFLOW_TEMPORAL_UI_PORT"),
        Listener("API", settings.api_host, settings.api_port, "PLEDGEFLOW_API_PORT"),
        Listener("SMTP sink", settings.smtp_host, settings.smtp_port, "PLEDGEFLOW_SMTP_PORT"),
        Listener("inbound receiver", settings.inbound_host, settings.inbound_port, "PLEDGEFLOW_INBOUND_PORT"),
    ]


def check_ports(wanted: list[Listener]) -> None:
    """Fail before anything starts if a port is taken, naming the setting that moves it."""
    seen: dict[int, Listener] = {}
    for listener in wanted:
        if listener.port in seen:
            other = seen[listener.port]
            raise DevError(
                f"the {other.what} and the {listener.what} are both set to port {listener.port}; "
                f"set {listener.setting} to another port"
            )
        seen[listener.port] = listener
        with socket.socket(socket.AF_INET6 if ":" in listener.host else socket.AF_INET) as probe:
            # The servers set SO_REUSEADDR too, so only a listening socket counts as taken.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((listener.host, listener.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise DevError(
                        f"port {listener.port} ({listener.what}) is already in use; "
                        f"set {listener.setting} to another port"
                    ) from None
                raise DevError(f"cannot listen on {listener.host}:{listener.port} ({listener.what}): {exc}") from None


# --- The Temporal dev server, a child that dies with us --------------------------------------------


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = getattr(libc, "prctl", None)  # Linux only; elsewhere the process group is stopped on exit

    def preexec() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def spawn_child(
    argv: list[str], output: IO[bytes] | int, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, killed by the kernel if this process dies; ``env``, when
    given, is the child's whole environment."""
    return subprocess.Popen(  # noqa: S603  (argv is built here, not from user input)
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()),  # it calls only prctl and getppid, safe after fork
    )


def stop_child(child: subprocess.Popen[bytes], timeout: float = TEMPORAL_STOP_TIMEOUT) -> None:
    """SIGTERM the child's process group, SIGKILL it if it lingers, and reap it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, sig)
        try:
            child.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


SQLITE_PRAGMAS = ("--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=full")


def temporal_argv(settings: Settings) -> list[str]:
    argv = [
        binaries.temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(temporal_port(settings)),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(settings.home / "temporal.db"),
        # Its SQLite file in write-ahead-log mode, not the rollback journal it defaults to: a commit is one
        # append and one fsync, and still waits for the disk (synchronous stays FULL). Measured on the
        # 2-core machine (docs/benchmark.md, stop 21): one-activity workflows 15 -> 33/s, and a burst of 100
        # started at once answered in 1.9 / 2.9 s p50 / p95, down from 3.7 / 5.6 s.
        *SQLITE_PRAGMAS,
        "--ui-disable-news-fetch",
        "--log-level",
        "warn",
    ]
    if settings.temporal_namespace != "default":
        argv += ["--namespace", settings.temporal_namespace]
    for name, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{name}={kind}"]
    return argv


def _tail(path: Path, lines: int = 15) -> str:
    """The log's errors (the cause, e.g. a port in use), then its last lines (often a Go stack trace)."""
    text = path.read_text(errors="replace").splitlines()
    errors = [line for line in text if "level=ERROR" in line or line.startswith("panic:")]
    return "\n".join([*errors[:5], "...", *text[-lines:]] if errors else text[-lines:])


class Stopped(Exception):
    """A signal arrived while the stack was still starting."""


async def wait_for_temporal(
    settings: Settings, child: subprocess.Popen[bytes], log_file: Path, stop: asyncio.Event
) -> Client:
    deadline = time.monotonic() + TEMPORAL_START_TIMEOUT
    while True:
        if stop.is_set():
            raise Stopped
        if child.poll() is not None:
            raise DevError(f"the Temporal dev server exited ({child.returncode}); its log:\n{_tail(log_file)}")
        try:
            client = await asyncio.wait_for(connect(settings), timeout=5)
            await asyncio.wait_for(client.service_client.check_health(), timeout=5)
            return client
        except (RuntimeError, OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise DevError(
                    f"the Temporal dev server did not answer within {TEMPORAL_START_TIMEOUT:.0f}s; see {log_file}"
                ) from None
            await asyncio.sleep(0.3)


# --- The dev staff key -----------------------------------------------------------------------------


def dev_staff_key(settings: Settings) -> str:
    """The dev-admin key kept under home; made once, remade only if the key file or account was lost."""
    key_file = settings.home / "dev-staff.key"
    with db.session_for(settings.database_url) as session:
        if key_file.exists():
            key = key_file.read_text().strip()
            if authenticate(session, key) is not None:
                return key
        existing = session.exec(select(StaffAccount).where(StaffAccount.name == DEV_STAFF_NAME)).first()
        if existing is not None:
            # Its key is gone (only a hash was ever stored): retire the account, keeping its history.
            existing.active = False
            existing.name = f"{DEV_STAFF_NAME}-retired-{existing.id}"
            session.add(existing)
            session.commit()
        key = add_staff(session, DEV_STAFF_NAME, Role.admin)
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    return key


# --- The in-process parts --------------------------------------------------------------------------


class ApiServer(uvicorn.Server):
    """uvicorn without its own signal handlers: one signal stops every part, in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def dev_settings(settings: Settings) -> Settings:
    """Absolute home, dev mode on, and links in emails pointing at this API unless set explicitly."""
    update: dict[str, object] = {"home": settings.home.resolve(), "dev_mode": True}
    if "public_base_url" not in settings.model_fields_set:
        update["public_base_url"] = f"http://localhost:{settings.api_port}"
    return settings.model_copy(update=update)


def banner(settings: Settings, staff_key: str) -> str:
    api = settings.public_base_url.rstrip("/")
    rows = [
        ("API", api),
        ("API docs", f"{api}/docs"),
        ("Temporal UI", settings.temporal_ui_url),
        ("Mailbox", f"{api}/dev/mail"),
        ("Temporal", f"{settings.temporal_address} (namespace {settings.temporal_namespace})"),
        ("SMTP sink", f"{settings.smtp_host}:{settings.smtp_port}"),
        ("Inbound SMTP", f"{settings.inbound_host}:{settings.inbound_port} (reply+TOKEN@{settings.inbound_domain})"),
        ("State", str(settings.home)),
        ("Staff key", f"{staff_key}  ({DEV_STAFF_NAME}, admin)"),
    ]
    lines = [f"Pledgeflow dev stack is up (policy {settings.policy})."]
    lines += [f"  {label:<13} {value}" for label, value in rows]
    lines.append("Press Ctrl-C to stop everything.")
    return "\n".join(lines)


async def seed_demo(settings: Settings, client: Client, echo: Callable[[str], None]) -> None:
    """``--demo``: the demo registry through the real workflows, once the worker runs (pledgeflow/devstack/demo.py)."""
    from pledgeflow.devstack import demo
    from pledgeflow.temporal.pledge_client import PledgeClient

    echo(f"Seeding the demo registry ({len(demo.DEMOS)} pledges) ...")
    changes = await demo.seed(PledgeClient(settings, client), load_policy(settings.policy, settings.policy_file), echo)
    echo(f"Demo registry ready: {len(demo.DEMOS)} pledges ({changes} started or moved on now) at "
         f"{settings.public_base_url.rstrip('/')}/registry")  # fmt: skip


async def serve(settings: Settings, echo: Callable[[str], None], demo: bool = False) -> None:
    """Run until SIGINT/SIGTERM (or a part fails), then stop every part and the Temporal child."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    settings.home.mkdir(parents=True, exist_ok=True)
    temporal_log = settings.home / "temporal.log"
    with temporal_log.open("ab") as output:
        child = spawn_child(temporal_argv(settings), output)
    tasks: list[asyncio.Task[None]] = []
    seeding: asyncio.Task[None] | None = None  # not a part: it ends when the demo registry is seeded
    mail_server: asyncio.Server | None = None
    api_server: ApiServer | None = None
    try:
        echo(f"Starting the Temporal dev server on {settings.temporal_address} (log: {temporal_log}) ...")
        await asyncio.to_thread(db.upgrade, settings.database_url)
        staff_key = await asyncio.to_thread(dev_staff_key, settings)
        client = await wait_for_temporal(settings, child, temporal_log, stop)

        mail_server = await mailsink.start(settings)
        tasks.append(asyncio.create_task(receiver.serve(settings), name="inbound receiver"))
        tasks.append(asyncio.create_task(run_workers(client, settings), name="worker"))
        api_server = ApiServer(
            uvicorn.Config(
                create_app(settings, client),
                host=settings.api_host,
                port=settings.api_port,
                log_config=uvicorn_log_config(),
            )
        )
        tasks.append(asyncio.create_task(api_server.serve(), name="API"))
        while not api_server.started:
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.05)
        else:
            echo(banner(settings, staff_key))
            if demo:
                seeding = asyncio.create_task(seed_demo(settings, client, echo), name="demo seeding")

        stopped = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        failed = [task for task in done if task is not stopped]
        for task in failed:
            error = task.exception() if not task.cancelled() else None
            raise DevError(f"the {task.get_name()} stopped unexpectedly: {error!r}")
        echo("Stopping ...")
    except Stopped:
        echo("Stopping ...")
    finally:
        if seeding is not None:
            seeding.cancel()
            await asyncio.gather(seeding, return_exceptions=True)
        if api_server is not None:
            api_server.should_exit = True
        for task in reversed(tasks):
            if task.get_name() != "API":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if mail_server is not None:
            mail_server.close()
            await mail_server.wait_closed()
        await asyncio.to_thread(stop_child, child)


def run(settings: Settings, echo: Callable[[str], None], demo: bool = False) -> None:
    """Check everything that can be checked before starting anything, then serve."""
    try:
        load_policy(settings.policy, settings.policy_file)
    except (ValueError, OSError) as exc:
        raise DevError(" ".join(f"policy {settings.policy!r}: {exc}".split())) from None
    settings = dev_settings(settings)
    check_ports(listeners(settings))
    asyncio.run(serve(settings, echo, demo))
