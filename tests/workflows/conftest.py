"""Pledge workflows on a fresh time-skipping server per test, with the real registry projection on
SQLite, the real policy activity, and a stand-in ``send_email`` that records what would be sent."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.policy import PolicyActivities
from activities.registry import RegistryActivities
from pledgeflow.settings import Settings
from pledgeflow.temporal import SEARCH_ATTRIBUTES
from pledgeflow.worker import workflow_runner
from tests.conftest import make_settings
from tests.workflows.driver import Mailbox, Pledges
from workflows.pledge import PledgeWorkflow


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server refuses undefined custom search attributes; the dev server has them
    registered by its start flags, this one gets them through the operator service."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={
                name: IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{kind.upper().replace('LIST', '_LIST')}")
                for name, kind in SEARCH_ATTRIBUTES.items()
            },
        )
    )


@pytest.fixture
async def env(time_env: WorkflowEnvironment) -> WorkflowEnvironment:
    await register_search_attributes(time_env.client)
    return time_env


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def settings(tmp_path: Path, sqlite_url: str) -> Settings:
    return make_settings(tmp_path, sqlite_url)


async def run_pledge_worker(env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox) -> AsyncIterator[Pledges]:
    """One worker serving both queues, as far as the workflow can tell: pledges and pledge-email."""
    registry = RegistryActivities(settings.database_url)
    policy = PolicyActivities(settings)
    common: dict[str, Any] = {"client": env.client}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        async with (
            Worker(
                **common,
                task_queue=settings.task_queue,
                workflows=[PledgeWorkflow],
                activities=[registry.project_pledge, policy.load_policy],
                activity_executor=executor,
                workflow_runner=workflow_runner(),
            ),
            Worker(**common, task_queue=settings.email_task_queue, activities=[mailbox.send_email]),
        ):
            yield Pledges(env, settings.task_queue, settings.email_task_queue, mailbox, settings.database_url)
    assert mailbox.problems == [], "emails that break the contract with the email engineer"


@pytest.fixture
async def pledges(env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox) -> AsyncIterator[Pledges]:
    async for running in run_pledge_worker(env, settings, mailbox):
        yield running
