"""The worker: pledge workflows and registry activities on ``pledges``, email on ``pledge-email``."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.email import EmailActivities
from activities.policy import PolicyActivities
from activities.registry import RegistryActivities
from pledgeflow.core.settings import Settings
from workflows.pledge import PledgeWorkflow

# Deterministic libraries the workflow's models are built on: imported once, outside the sandbox,
# instead of re-imported (and warned about) in every workflow run.
PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "email_validator", "idna", "dns")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def build_workers(
    client: Client, settings: Settings, executor: concurrent.futures.ThreadPoolExecutor
) -> Sequence[Worker]:
    registry = RegistryActivities(settings.database_url)
    policy = PolicyActivities(settings)
    policy.current()  # a bad preset or policy file stops the worker at start, with the reason
    email = EmailActivities(settings)
    return [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[PledgeWorkflow],
            activities=[registry.project_pledge, registry.revoke_tokens, policy.load_policy],
            activity_executor=executor,
            workflow_runner=workflow_runner(),
            max_cached_workflows=settings.worker_max_cached_workflows,
        ),
        Worker(
            client,
            task_queue=settings.email_task_queue,
            activities=[email.send_email],
            max_task_queue_activities_per_second=settings.email_rate_per_second,
        ),
    ]


async def run_workers(client: Client, settings: Settings) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
        workers = build_workers(client, settings, executor)
        await asyncio.gather(*(worker.run() for worker in workers))
