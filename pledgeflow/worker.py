"""The worker: pledge workflows and registry activities on ``pledges``, email on ``pledge-email``."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.worker import Worker

from activities.email import EmailActivities
from activities.registry import RegistryActivities
from pledgeflow.settings import Settings
from workflows.pledge import PledgeWorkflow


def build_workers(
    client: Client, settings: Settings, executor: concurrent.futures.ThreadPoolExecutor
) -> Sequence[Worker]:
    registry = RegistryActivities(settings.database_url)
    email = EmailActivities(settings)
    return [
        Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[PledgeWorkflow],
            activities=[registry.project_pledge],
            activity_executor=executor,
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
