"""What the email send path costs per message, against raw aiosmtplib to the same SMTP sink (issue 10).

``measure_email_path`` starts an aiosmtpd sink of its own (or uses the one given), then sends ``messages``
emails twice over, in
alternating rounds so a busy machine slows both alike: once as ``send_email`` does (ledger look-up, one
render, claim, SMTP, ledger record: the activity itself, run outside a worker) and once with
``aiosmtplib.send`` of the same messages rendered beforehand (the yardstick). It writes ledger rows with
business keys of its own to ``settings.database_url``: point it at a scratch database.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import sys
import time
import uuid
from dataclasses import dataclass

import aiosmtplib
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from activities.email_render import EmailRenderer
from pledgeflow.core.settings import Settings
from workflows.emails import EmailKind, EmailRequest, Recipient

ROUND = 20  # messages per round; rounds alternate between the two paths


@dataclass(frozen=True)
class EmailPathCost:
    messages: int
    send_path_ms: float  # median time per message through send_email
    raw_ms: float  # median time per message through aiosmtplib.send
    ratio: float  # send_path_ms / raw_ms; issue 10's goal is <= 1.25


def _request(run: str, number: int) -> EmailRequest:
    return EmailRequest(
        pledge_id=f"PF-B{run}",
        cycle=number,
        kind=EmailKind.report_request,
        recipient=Recipient(email=f"bench-{number}@bench.example", name="Amina Otieno", role="focal_point"),
        context={
            "title": "Connecting 500 rural schools in Kenya by 2027",
            "organization": "Connect Africa Foundation",
            "cycle": number,
            "deadline": "2027-03-14T00:00:00+00:00",
        },
    )


async def measure_email_path(
    settings: Settings, messages: int = 200, smtp: tuple[str, int] | None = None
) -> EmailPathCost:
    """Time both paths to ``smtp`` (host, port), or to an aiosmtpd sink started in a process of its own,
    as a real SMTP server is: in this process, its work would hold the interpreter the sender shares."""
    if smtp is not None:
        return await _measure(settings, messages, *smtp)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink", "-l", f"127.0.0.1:{port}"]
    sink = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL)
    try:
        await _until_listening(port)
        return await _measure(settings, messages, "127.0.0.1", port)
    finally:
        sink.terminate()
        await sink.wait()


async def _until_listening(port: int) -> None:
    async with asyncio.timeout(20):
        while True:
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return


async def _measure(settings: Settings, messages: int, host: str, port: int) -> EmailPathCost:
    settings = settings.model_copy(update={"smtp_host": host, "smtp_port": port, "smtp_security": "none"})
    activities = EmailActivities(settings)
    renderer = EmailRenderer(settings)
    environment = ActivityEnvironment()
    run = uuid.uuid4().hex[:6].upper()
    ours: list[float] = []
    raw: list[float] = []
    for start in range(0, messages, ROUND):
        numbers = range(start, min(start + ROUND, messages))
        for number in numbers:
            request = _request(run, number)
            began = time.perf_counter()
            outcome = await environment.run(activities.send_email, request)
            ours.append(time.perf_counter() - began)
            if outcome.state != "sent":
                raise RuntimeError(f"the bench email was not sent: {outcome}")
        rendered = [renderer.render(_request(f"{run}R", number)) for number in numbers]
        for message in rendered:
            began = time.perf_counter()
            await aiosmtplib.send(message, hostname=host, port=port)
            raw.append(time.perf_counter() - began)
        await asyncio.sleep(0)
    # The ratio is taken of the figures as reported, so a reader dividing them gets the same number.
    send_path, yardstick = round(statistics.median(ours) * 1000, 3), round(statistics.median(raw) * 1000, 3)
    return EmailPathCost(messages, send_path, yardstick, round(send_path / yardstick, 3))
