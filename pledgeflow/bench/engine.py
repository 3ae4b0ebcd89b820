"""Engine rates and pledges on one Temporal dev server: the yardstick, publication, report cycles, decisions.

Everything runs side by side on one server with the real workers (``build_workers``: pledge workflows, the
registry projection on SQLite, the policy activity and the email activity sending to an SMTP sink), so the
ratios compare like with like whatever the machine's load. The demo policy runs the ladder in seconds; a
policy file moves the first anniversary and the vetting reminders an hour away, with the early-report
window open from publication, so a report closes cycle 1 at once and no timed step races the
measurement. The email rate limit is lifted (the provider's limit is not what is measured here).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from sqlmodel import col, func, select
from temporalio.client import Client
from temporalio.worker import Worker

from pledgeflow.bench import pledges, servers
from pledgeflow.bench.figures import Goal, Part, percentile
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.core import db
from pledgeflow.core.models import Pledge
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.pledge_client import ActionPending, PledgeClient, WorkersNotAnswering
from pledgeflow.temporal.worker import build_workers, production_runner
from workflows.state import Decision, DecisionInput, PledgeStatus, ReportInput
from workflows.submission import Submission

from .yardstick import YARDSTICK_QUEUE, NoOpWorkflow, OneActivityWorkflow, touch

# The demo ladder, except: the first anniversary an hour away with its early-report window open from
# publication, so a report closes cycle 1 at once; and the vetting reminders an hour away too. No timed
# step (a reminder, non-reporting) fires while a slow machine is still publishing the batch.
FAST_REPORT_POLICY = "\n".join(
    f'{name} = "1h"'
    for name in ("reporting_interval", "early_report_window", "review_reminder_after", "review_escalation_after")
)
STARTS_AT_ONCE = 50  # client calls in flight, as many API requests would be
POLL_SECONDS = 0.1


def engine_settings(home: Path) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    policy_file = home / "policy.toml"
    policy_file.write_text(FAST_REPORT_POLICY)
    return servers.bench_settings(
        home,
        f"sqlite:///{home / 'registry.sqlite'}",
        policy="demo",
        policy_file=policy_file,
        email_rate_per_second=10_000,
    )


async def run_all(calls: Iterable[Callable[[], Awaitable[object]]], at_once: int = STARTS_AT_ONCE) -> None:
    gate = asyncio.Semaphore(at_once)

    async def one(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def _rate(count: int, calls: Iterable[Callable[[], Awaitable[object]]]) -> float:
    began = time.perf_counter()
    await run_all(calls)
    return count / (time.perf_counter() - began)


async def _completed_rate(
    client: Client, workflow: Callable[[Any, int], Awaitable[int]], prefix: str, count: int
) -> float:
    """``count`` runs of the yardstick ``workflow`` (its ``run``), completed per second."""
    tag = uuid.uuid4().hex[:8]

    def one(n: int) -> Callable[[], Awaitable[object]]:
        return lambda: client.execute_workflow(workflow, n, id=f"{prefix}-{tag}-{n}", task_queue=YARDSTICK_QUEUE)

    return await _rate(count, map(one, range(count)))


async def noop_rate(client: Client, count: int) -> float:
    """No-op workflows completed per second."""
    return await _completed_rate(client, NoOpWorkflow.run, "noop", count)


async def one_activity_rate(client: Client, count: int) -> float:
    """One-activity workflows (the yardstick) completed per second."""
    return await _completed_rate(client, OneActivityWorkflow.run, "one", count)


async def yardstick_burst(client: Client, count: int) -> list[float]:
    """``count`` one-activity workflows started at once: each one's time from its start to its result, in
    seconds. What the bare engine answers in when as much work arrives at once as in the decision batch."""
    tag = uuid.uuid4().hex[:8]
    latencies: list[float] = []

    async def one(n: int) -> None:
        began = time.perf_counter()
        await client.execute_workflow(OneActivityWorkflow.run, n, id=f"burst-{tag}-{n}", task_queue=YARDSTICK_QUEUE)
        latencies.append(time.perf_counter() - began)

    await run_all((functools.partial(one, n) for n in range(count)), at_once=count)
    return latencies


async def _until_quiet(sink: servers.CountingSink, quiet_seconds: float = 3.0, within: float = 120.0) -> None:
    """Wait until the sink has taken no message for ``quiet_seconds``: the work pledges do after being
    published (the publication email, the next run) is over."""
    deadline = time.monotonic() + within
    seen, since = sink.accepted, time.monotonic()
    while time.monotonic() - since < quiet_seconds and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        if sink.accepted != seen:
            seen, since = sink.accepted, time.monotonic()


async def _until_registry(settings: Settings, ids: list[str], done: Callable[[Pledge], bool], within: float) -> None:
    """Wait until every pledge's registry row passes ``done`` (what the public sees)."""
    deadline = time.monotonic() + within
    while True:
        with db.session_for(settings.database_url) as session:
            rows = session.exec(select(Pledge).where(col(Pledge.id).in_(ids))).all()
            finished = sum(1 for row in rows if done(row))
        if finished == len(ids):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - finished} of {len(ids)} pledges did not get there in {within:.0f}s")
        await asyncio.sleep(POLL_SECONDS)


async def answered(act: Callable[[str], Awaitable[object]], update_id: str) -> int:
    """Act as a person through the API does: an answer that is late (the API's 202 or 503) is asked for again
    with the same update id until it comes, so what is timed is the wait for the answer, however long.
    Returns how many times the answer was late."""
    late = 0
    while True:
        try:
            await act(update_id)
            return late
        except (ActionPending, WorkersNotAnswering):
            late += 1


APPROVAL = DecisionInput(decision=Decision.approve, staff="bench")


async def approve(pledge_client: PledgeClient, pledge_id: str) -> tuple[float, bool]:
    """Approve a pledge as staff do through the API: the seconds until the answer, and whether it came late."""
    began = time.perf_counter()
    late = await answered(functools.partial(pledge_client.decide, pledge_id, APPROVAL), f"approve-{pledge_id}")
    return time.perf_counter() - began, late > 0


async def publish(
    pledge_client: PledgeClient, count: int, rng: random.Random, at_once: int = STARTS_AT_ONCE
) -> tuple[list[str], list[float], int]:
    """Submit ``count`` pledges, ``at_once`` at a time, and approve each once started: their ids, the
    decisions' latencies in seconds, and how many decisions were answered late (past the answer timeout)."""
    ids: list[str] = []
    answers: list[tuple[float, bool]] = []

    async def submit_and_approve(n: int) -> None:
        pledge_id = await pledge_client.start(pledges.submission(n, rng))
        ids.append(pledge_id)
        answers.append(await approve(pledge_client, pledge_id))

    await run_all((functools.partial(submit_and_approve, n) for n in range(count)), at_once)
    return ids, [seconds for seconds, _ in answers], sum(late for _, late in answers)


async def submit(
    pledge_client: PledgeClient,
    count: int,
    rng: random.Random,
    ids: list[str] | None = None,
    at_once: int = STARTS_AT_ONCE,
) -> list[str]:
    """Submit ``count`` pledges, ``at_once`` at a time; their ids, appended to ``ids`` as each start returns."""
    ids = [] if ids is None else ids

    async def one(submission: Submission) -> None:
        ids.append(await pledge_client.start(submission))

    submissions = [pledges.submission(n, rng) for n in range(count)]
    await run_all((functools.partial(one, submission) for submission in submissions), at_once)
    return ids


async def approve_each_once_in_review(
    pledge_client: PledgeClient, settings: Settings, count: int, rng: random.Random, within: float
) -> tuple[list[float], int]:
    """Submit ``count`` pledges at once and approve each as soon as the registry shows it in review, as staff
    pick it from the review queue, while the rest of the batch is still being submitted, projected, approved
    and published around it: each decision's seconds from the approval's call to its answer, and how many
    were answered late."""
    ids: list[str] = []
    submitting = asyncio.create_task(submit(pledge_client, count, rng, ids, at_once=count))
    approvals: dict[str, asyncio.Task[tuple[float, bool]]] = {}
    in_review = PledgeStatus.in_review.value
    deadline = time.monotonic() + within
    while not (submitting.done() and len(approvals) == len(ids)):
        if submitting.done() and submitting.exception() is not None:
            await submitting  # a start failed: say why, not that the batch timed out
        if time.monotonic() > deadline:
            submitting.cancel()
            raise TimeoutError(f"{len(ids) - len(approvals)} of {count} pledges not in review in {within:.0f}s")
        await asyncio.sleep(POLL_SECONDS)
        waiting = [pledge_id for pledge_id in ids if pledge_id not in approvals]
        with db.session_for(settings.database_url) as session:
            shown = session.exec(
                select(Pledge.id).where(col(Pledge.id).in_(waiting), col(Pledge.status) == in_review)
            ).all()
        for pledge_id in shown:
            approvals[pledge_id] = asyncio.create_task(approve(pledge_client, pledge_id))
    await submitting  # its failure, if any
    answers = await asyncio.gather(*approvals.values())
    return [seconds for seconds, _ in answers], sum(late for _, late in answers)


async def approve_all_at_once(pledge_client: PledgeClient, ids: list[str]) -> tuple[list[float], int]:
    answers = await asyncio.gather(*(approve(pledge_client, pledge_id) for pledge_id in ids))
    return [seconds for seconds, _ in answers], sum(late for _, late in answers)


async def report_cycles(pledge_client: PledgeClient, ids: list[str]) -> None:
    report = ReportInput(report=pledges.report(1), source="form")
    await run_all(
        functools.partial(answered, functools.partial(pledge_client.report, pledge_id, report), f"report-{pledge_id}")
        for pledge_id in ids
    )


async def run(scale: Scale, progress: Progress) -> Part:
    part = Part("engine")
    settings = engine_settings(scale.folder / "engine")
    db.upgrade(settings.database_url)
    published, in_review = PledgeStatus.published.value, PledgeStatus.in_review.value
    with servers.smtp_sink() as (sink, smtp_port), concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
        settings = settings.model_copy(update={"smtp_port": smtp_port})
        async with servers.temporal_dev_server(settings) as client:
            yardstick = Worker(
                client,
                task_queue=YARDSTICK_QUEUE,
                workflows=[NoOpWorkflow, OneActivityWorkflow],
                activities=[touch],
                activity_executor=executor,
                workflow_runner=production_runner(settings),  # the pledges' runner: like with like
            )
            workers = [yardstick, *build_workers(client, settings, executor)]
            running = [asyncio.create_task(worker.run()) for worker in workers]
            try:
                pledge_client = PledgeClient(settings, client)
                progress("engine: bare workflows")
                part.add("no-op workflows", await noop_rate(client, scale.engine_workflows), "workflows/s")
                one_before = await one_activity_rate(client, scale.engine_workflows)

                progress("engine: pledges submitted, approved, published")
                rng = random.Random(scale.seed)
                began = time.perf_counter()
                ids, _, _ = await publish(pledge_client, scale.engine_pledges, rng)
                await _until_registry(settings, ids, lambda row: row.status == published, scale.timeout)
                publish_rate = len(ids) / (time.perf_counter() - began)
                # The yardstick runs before and after the pledges, as many workflows each time, and its rate is
                # both runs' workflows over both runs' time: a change of the machine's load while the pledges
                # run falls on both sides of the ratio, not on the pledges alone.
                progress("engine: bare workflows again")
                await _until_quiet(sink)  # the pledges' emails after publication do not slow the yardstick
                one_after = await one_activity_rate(client, scale.engine_workflows)
                one_rate = 2 / (1 / one_before + 1 / one_after)
                part.add("one-activity workflows (yardstick)", one_rate, "workflows/s")
                part.add("pledges submitted to published", publish_rate, "pledges/s")
                part.add("publication vs yardstick", publish_rate / one_rate, "x", Goal(">=", 0.5))

                progress("engine: report cycles")
                began = time.perf_counter()
                await report_cycles(pledge_client, ids)
                await _until_registry(settings, ids, lambda row: row.cycle >= 2, scale.timeout)
                cycle_rate = len(ids) / (time.perf_counter() - began)
                part.add("report cycles (report to next cycle)", cycle_rate, "cycles/s")
                part.add("report cycle vs yardstick", cycle_rate / one_rate, "x")

                # Each batch below starts once the report cycles' emails, and then the batch before it, are over.
                await _until_quiet(sink)
                progress(f"engine: {scale.in_flight} one-activity workflows at once")
                burst = await yardstick_burst(client, scale.in_flight)
                part.add_latencies("one-activity workflows started at once (yardstick)", burst)

                await _until_quiet(sink)
                progress(f"engine: decisions with {scale.in_flight} pledges in flight")
                latencies, late_answers = await approve_each_once_in_review(
                    pledge_client, settings, scale.in_flight, rng, scale.timeout
                )
                part.add_latencies("decision latency", latencies, p95_goal_ms=2000)
                part.add("decision p95 vs yardstick's at once", percentile(latencies, 95) / percentile(burst, 95), "x")

                # Before stop 22 the figure above: each pledge approved once its start returned, before staff
                # could see it in review, so the decision waited for its own submission's work as well.
                await _until_quiet(sink)
                progress(f"engine: {scale.in_flight} pledges approved as soon as started")
                _, at_start, late_at_start = await publish(pledge_client, scale.in_flight, rng, at_once=scale.in_flight)
                part.add_latencies("decision latency, approved as soon as started", at_start)

                # What staff meet most days: pledges that have waited in review (their submission's work
                # done), decided all at once.
                progress(f"engine: decisions on {scale.in_flight} pledges in review")
                waiting = await submit(pledge_client, scale.in_flight, rng)
                await _until_registry(settings, waiting, lambda row: row.status == in_review, scale.timeout)
                await _until_quiet(sink)
                in_review_latencies, late_in_review = await approve_all_at_once(pledge_client, waiting)
                part.add_latencies("decision latency, pledges in review", in_review_latencies)
                with db.session_for(settings.database_url) as session:
                    rows = session.exec(select(func.count()).select_from(Pledge)).one()
            finally:
                for worker in workers:
                    await worker.shutdown()
                await asyncio.gather(*running, return_exceptions=True)
    part.details = {
        "server": "temporal server start-dev (as pledgeflow dev), SQLite registry, aiosmtpd sink",
        "policy": "demo; first anniversary and vetting reminders an hour away, early-report window open",
        "yardstick_workflows": scale.engine_workflows,
        "yardstick_before_and_after_the_pledges": [round(one_before, 2), round(one_after, 2)],
        "pledges": scale.engine_pledges,
        "pledges_in_flight_for_decisions": scale.in_flight,
        "registry_rows": rows,
        "decisions_answered_late": late_answers,
        "decisions_at_start_answered_late": late_at_start,
        "decisions_in_review_answered_late": late_in_review,
        "emails_accepted_by_sink": sink.accepted,
        "worker_max_cached_workflows": settings.worker_max_cached_workflows,
        "worker_sandbox": settings.worker_sandbox,
    }
    return part
