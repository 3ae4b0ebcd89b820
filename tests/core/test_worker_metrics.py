"""The worker's Prometheus endpoint (PLEDGEFLOW_WORKER_METRICS_PORT): an activity that keeps failing while
it is retried, here a projection (a local activity) into a registry that is not there, shows as a counter by
type."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from pledgeflow.temporal.connection import worker_runtime
from pledgeflow.temporal.pledge_client import PledgeClient
from tests.conftest import SmtpSink, free_port, make_settings, run_workers
from tests.factories import make_submission
from workflows.state import workflow_id

# A local activity (10-local-activities) counts under its own name.
FAILED = re.compile(
    r'^temporal_local_activity_execution_failed\{[^}]*activity_type="project_pledge"[^}]*\} (\d+)', re.M
)


async def test_a_projection_that_keeps_failing_counts_on_the_worker_metrics(
    dev_env: WorkflowEnvironment, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    missing = tmp_path / "no-such-folder" / "registry.db"  # SQLite cannot open it: every projection fails
    settings = make_settings(tmp_path, f"sqlite:///{missing}", smtp_sink, worker_metrics_port=free_port())
    runtime = worker_runtime(settings)
    assert runtime is not None
    target = dev_env.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=pydantic_data_converter, runtime=runtime)
    async with run_workers(client, settings):
        pledge_id = await PledgeClient(settings, client).start(make_submission())
        url = f"http://{settings.metrics_host}:{settings.worker_metrics_port}/metrics"
        async with httpx.AsyncClient() as http, asyncio.timeout(30):
            while True:
                failed = FAILED.findall((await http.get(url)).text)
                if failed and sum(map(int, failed)) >= 2:  # the first attempt and at least one retry
                    break
                await asyncio.sleep(0.5)
    await client.get_workflow_handle(workflow_id(pledge_id)).terminate(reason="test finished")
