"""Worker memory with N open pledges: ``pledgeflow worker`` as its own process, its resident set read from
/proc once every pledge has been submitted, projected and emailed about, and waits for review.

The pledges run the default policy, so each stays open (in review) for the whole measurement, and the
worker keeps at most ``PLEDGEFLOW_WORKER_MAX_CACHED_WORKFLOWS`` of them in memory.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import subprocess
import time
from pathlib import Path

from sqlmodel import func, select

from pledgeflow.bench import pledges, servers
from pledgeflow.bench.engine import run_all
from pledgeflow.bench.figures import Goal, Part
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.core import db
from pledgeflow.core.models import Pledge, SentEmail
from pledgeflow.core.settings import Settings
from pledgeflow.devstack import binaries, runner
from pledgeflow.temporal.pledge_client import PledgeClient

RSS_GOAL_MB = 300
EMAILS_PER_SUBMISSION = 2  # submission received (focal point), review requested (vetting team)
SETTLE_SECONDS = 5.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def worker_environment(settings: Settings) -> dict[str, str]:
    names = (
        "home",
        "database_url",
        "secret_key",
        "temporal_address",
        "smtp_port",
        "email_rate_per_second",
        "worker_max_cached_workflows",
        "worker_sandbox",
    )
    values = {f"PLEDGEFLOW_{name.upper()}": str(getattr(settings, name)) for name in names}
    if "PYTHONPATH" in os.environ:  # the worker runs the bench's code, also from a worktree (side by side)
        values["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return values  # the child's whole environment: nothing of this shell's PLEDGEFLOW_* reaches it


def _counts(url: str) -> tuple[int, int]:
    with db.session_for(url) as session:
        rows = session.exec(select(func.count()).select_from(Pledge)).one()
        sent = session.exec(select(func.count()).select_from(SentEmail)).one()
    return rows, sent


async def _until_all_waiting(url: str, count: int, child: subprocess.Popen[bytes], within: float) -> int:
    """Wait until the registry has every pledge and the send ledger has stopped growing; the emails sent.

    Not "every email sent": an email whose send stalls waits for its activity's timeout and retry, minutes
    later, while the pledges' memory is what is measured here."""
    deadline = time.monotonic() + within
    last, steady_since = (-1, -1), time.monotonic()
    while True:
        if child.poll() is not None:
            raise RuntimeError(f"pledgeflow worker exited ({child.returncode})")
        counts = _counts(url)
        if counts != last:
            last, steady_since = counts, time.monotonic()
        elif counts[0] == count and time.monotonic() - steady_since >= SETTLE_SECONDS:
            return counts[1]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{counts[0]} of {count} pledges in the registry after {within:.0f}s")
        await asyncio.sleep(0.5)


async def run(scale: Scale, progress: Progress) -> Part:
    part = Part("memory")
    home = scale.folder / "memory"
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'registry.sqlite'}"
    db.upgrade(url)
    with servers.smtp_sink() as (_, port):
        settings = servers.bench_settings(home, url, smtp_port=port, email_rate_per_second=10_000)
        async with servers.temporal_dev_server(settings) as client:
            with (home / "worker.log").open("wb") as log:
                child = runner.spawn_child([binaries.find("pledgeflow"), "worker"], log, worker_environment(settings))
            try:
                pledge_client = PledgeClient(settings, client)
                rng = random.Random(scale.seed)
                progress("memory: worker start")
                await _until_all_waiting(url, 0, child, scale.timeout)
                idle = rss_mb(child.pid)
                progress(f"memory: {scale.open_pledges:,} open pledges")
                submissions = [pledges.submission(n, rng) for n in range(scale.open_pledges)]
                await run_all(functools.partial(pledge_client.start, submission) for submission in submissions)
                emails = await _until_all_waiting(url, scale.open_pledges, child, scale.timeout)
                loaded = rss_mb(child.pid)
            finally:
                runner.stop_child(child)
    db.engine_for(url).dispose()
    part.add("worker RSS, idle", idle, "MB")
    part.add(f"worker RSS, {scale.open_pledges:,} open pledges", loaded, "MB", Goal("<=", RSS_GOAL_MB))
    part.details = {
        "open_pledges": scale.open_pledges,
        "emails_sent": emails,
        "emails_asked": scale.open_pledges * EMAILS_PER_SUBMISSION,
        "worker_max_cached_workflows": settings.worker_max_cached_workflows,
        "worker_sandbox": settings.worker_sandbox,
        "policy": "default (every pledge waits in review)",
    }
    return part
