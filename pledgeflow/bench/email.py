"""The email send path against raw aiosmtplib, one message at a time to the same aiosmtpd sink.

The send path is the real ``send_email`` activity (ledger read, render, SMTP, ledger write) run in
Temporal's activity environment; raw is ``aiosmtplib.send`` of the same rendered messages with the same
envelope and EHLO name. The two alternate in four blocks so a change in the machine's load falls on both.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiosmtplib
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities
from pledgeflow.bench import servers
from pledgeflow.bench.figures import Goal, Part
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.core import db
from pledgeflow.inbound import bounces
from workflows.emails import EmailKind, EmailRequest, Recipient, RecipientRole

BLOCKS = 4


def request(n: int) -> EmailRequest:
    return EmailRequest(
        pledge_id=f"PF-BENCH{n:05d}",
        cycle=1,
        kind=EmailKind.report_request,
        recipient=Recipient(email=f"focal{n}@pledges.example", name="Amina Otieno", role=RecipientRole.focal_point),
        context={
            "title": f"Connecting rural schools ({n})",
            "organization": "Connect Africa Foundation",
            "cycle": 1,
            "deadline": "2027-03-01T09:00:00+00:00",
        },
    )


async def run(scale: Scale, progress: Progress) -> Part:
    part = Part("email")
    home = scale.folder / "email"
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{Path(home) / 'registry.sqlite'}"
    db.upgrade(url)
    per_block = max(1, scale.emails // BLOCKS)
    with servers.smtp_sink() as (sink, port):
        # The send path's own time, not the provider's pace (docs/email.md §4), as the other parts run it.
        settings = servers.bench_settings(home, url, smtp_port=port, email_rate_per_second=10_000)
        activities = EmailActivities(settings)
        env = ActivityEnvironment()
        raw_seconds = path_seconds = 0.0
        for block in range(BLOCKS):
            progress(f"email: block {block + 1} of {BLOCKS}")
            requests = [request(block * per_block + n) for n in range(per_block)]
            messages = [activities.renderer.render(r, token_version=1) for r in requests]
            began = time.perf_counter()
            for r, message in zip(requests, messages, strict=True):
                await aiosmtplib.send(
                    message,
                    sender=bounces.return_path(str(message["Message-ID"]), settings.inbound_domain),
                    recipients=[r.recipient.email],
                    hostname=settings.smtp_host,
                    port=port,
                    # The EHLO name the activity says; by default aiosmtplib looks it up in a thread per message.
                    local_hostname=activities.local_hostname,
                )
            raw_seconds += time.perf_counter() - began
            began = time.perf_counter()
            for r in requests:
                outcome = await env.run(activities.send_email, r)
                if outcome.state != "sent":
                    raise RuntimeError(f"the send path did not send {r.business_key}: {outcome}")
            path_seconds += time.perf_counter() - began
        db.engine_for(url).dispose()
    sent = per_block * BLOCKS
    if sink.accepted != 2 * sent:
        raise RuntimeError(f"the sink accepted {sink.accepted} messages, {2 * sent} were sent")
    part.add("raw aiosmtplib", sent / raw_seconds, "messages/s")
    part.add("send_email activity", sent / path_seconds, "messages/s")
    part.add("send path vs raw, time per message", path_seconds / raw_seconds, "x", Goal("<=", 1.25))
    part.details = {"messages_each": sent, "kind": EmailKind.report_request.value, "ledger": "SQLite"}
    return part
