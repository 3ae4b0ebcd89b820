"""History events per pledge-year: one pledge's ten years on the time-skipping server, default policy.

An open-ended pledge (no final cycle ends it early), run by the real workers (registry projection on
SQLite, the policy activity, the email activity sending to an SMTP sink). Each year's report comes at
another point of the ladder (on time, after the reminders, overdue, non-reporting and back, early), so
the figure covers every timed step, not only the quiet path. The carried state is the input of each run
(what continue-as-new hands the next one): it should stay flat.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import random
import time

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client

from pledgeflow.bench import pledges, servers
from pledgeflow.bench.figures import Goal, Part
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.core import db
from pledgeflow.temporal.pledge_client import PledgeClient
from pledgeflow.temporal.worker import build_workers
from workflows.state import Decision, DecisionInput, PledgeState, ReportInput, workflow_id

# Days after each anniversary the report comes: the same spread as tests/workflows/test_long_lived.py.
REPORT_OFFSETS = [3, 3, 32, 50, 3, -20, 100, 3, 16, 3]


async def settled(client: Client, pledge_client: PledgeClient, pledge_id: str, within: float) -> PledgeState:
    """The state once the workflow is quiet: its last workflow task completed, no activity pending, and its
    history as long as the server says. The time-skipping server can lose a query that races a
    continue-as-new, so only a quiet workflow is asked."""
    handle = client.get_workflow_handle(workflow_id(pledge_id))
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id(pledge_id))
    )
    deadline = time.monotonic() + within
    while True:
        kinds = [EventType.Name(event.event_type) for event in (await handle.fetch_history()).events]
        described = await client.workflow_service.describe_workflow_execution(request)
        task = next((kind for kind in reversed(kinds) if kind.startswith("EVENT_TYPE_WORKFLOW_TASK_")), "")
        if (
            described.workflow_execution_info.history_length == len(kinds)
            and not described.pending_activities
            and task.endswith("_COMPLETED")
        ):
            return await pledge_client.state(pledge_id)
        if time.monotonic() > deadline:
            raise TimeoutError(f"pledge {pledge_id} did not settle in {within:.0f}s")
        await asyncio.sleep(0.05)


async def run_sizes(client: Client, pledge_id: str) -> list[tuple[int, int]]:
    """(events, bytes of the run's input) for every run of the pledge, oldest first: from the current run
    back along each run's "continued from" link."""
    sizes = []
    run_id = ""
    while True:
        history = await client.get_workflow_handle(workflow_id(pledge_id), run_id=run_id or None).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        sizes.append((len(history.events), started.input.ByteSize()))
        run_id = started.continued_execution_run_id
        if not run_id:
            return sizes[::-1]


async def run(scale: Scale, progress: Progress) -> Part:
    part = Part("history")
    home = scale.folder / "history"
    home.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{home / 'registry.sqlite'}"
    db.upgrade(url)
    with servers.smtp_sink() as (sink, port), concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        settings = servers.bench_settings(home, url, smtp_port=port, email_rate_per_second=10_000)
        async with servers.time_skipping_server() as env:
            workers = build_workers(env.client, settings, executor)
            running = [asyncio.create_task(worker.run()) for worker in workers]
            try:
                pledge_client = PledgeClient(settings, env.client)
                pledge_id = await pledge_client.start(pledges.submission(0, random.Random(scale.seed), open_ended=True))
                await pledge_client.decide(pledge_id, DecisionInput(decision=Decision.approve, staff="bench"))
                state = await settled(env.client, pledge_client, pledge_id, scale.timeout)
                for year, offset in enumerate(REPORT_OFFSETS[: scale.history_years], start=1):
                    progress(f"history: year {year} of {scale.history_years}")
                    assert state.cycle_due_at is not None
                    moment = state.cycle_due_at + dt.timedelta(days=offset)
                    now = await env.get_current_time()
                    if moment > now:
                        await env.sleep(moment - now)
                    await settled(env.client, pledge_client, pledge_id, scale.timeout)
                    await pledge_client.report(pledge_id, ReportInput(report=pledges.report(year), source="form"))
                    state = await settled(env.client, pledge_client, pledge_id, scale.timeout)
                    if state.cycle != year + 1:
                        raise RuntimeError(f"year {year}: the pledge is in cycle {state.cycle}, not {year + 1}")
                sizes = await run_sizes(env.client, pledge_id)
            finally:
                for worker in workers:
                    await worker.shutdown()
                await asyncio.gather(*running, return_exceptions=True)
    db.engine_for(url).dispose()
    years = scale.history_years
    events = [count for count, _ in sizes]
    carried = [size for _, size in sizes[1:]]  # the cycle runs: each starts from the carried state
    part.add("history events per pledge-year", sum(events) / years, "events", Goal("<=", 100))
    part.add("history events over the lifecycle", sum(events), "events")
    part.add("carried state, first cycle", carried[0] / 1024, "KB")
    part.add("carried state, last cycle", carried[-1] / 1024, "KB")
    part.add("carried state growth", carried[-1] / carried[0], "x", Goal("<=", 1.25))
    part.details = {
        "years": years,
        "policy": "default",
        "report_days_after_anniversary": REPORT_OFFSETS[:years],
        "events_per_run": events,
        "input_bytes_per_run": [size for _, size in sizes],
        "emails_accepted_by_sink": sink.accepted,
    }
    return part
