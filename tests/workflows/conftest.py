"""Pledge workflows on a fresh time-skipping server per test, with the real registry projection on
SQLite, the real policy activity, and a stand-in ``send_email`` that records what would be sent."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
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
from pledgeflow.core.settings import Settings
from pledgeflow.temporal.worker import workflow_runner
from tests.conftest import make_settings
from tests.workflows.driver import Mailbox, Pledges
from workflows.pledge import PledgeWorkflow
from workflows.search_attributes import SEARCH_ATTRIBUTES


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


# The default ladder, except that the first anniversary comes two seconds after publication: for tests on
# the dev server (real time) that need a pledge whose report is due.
FAST_FIRST_CYCLE = 'reporting_interval = "2s"\nearly_report_window = "1s"\n'


def fast_first_cycle_settings(tmp_path: Path, database_url: str) -> Settings:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(FAST_FIRST_CYCLE)
    return make_settings(tmp_path, database_url, policy_file=policy_file)


@asynccontextmanager
async def run_pledge_worker(
    env: WorkflowEnvironment,
    settings: Settings,
    mailbox: Mailbox,
    *,
    load_policy: Callable[..., Any] | None = None,
    send_email: Callable[..., Any] | None = None,
    **worker_options: Any,
) -> AsyncIterator[Pledges]:
    """One worker serving both queues, as far as the workflow can tell: pledges and pledge-email.

    ``load_policy`` and ``send_email`` replace the real policy activity and the recording mailbox;
    ``worker_options`` go to the pledges worker. An ``async with`` block: the workers stop however it ends, so
    a failed test leaves none polling beside the next test's."""
    registry = RegistryActivities(settings.database_url)
    load_policy = load_policy or PolicyActivities(settings).load_policy
    send_email = send_email or mailbox.send_email
    common: dict[str, Any] = {"client": env.client}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
        async with (
            Worker(
                **common,
                task_queue=settings.task_queue,
                workflows=[PledgeWorkflow],
                activities=[registry.project_pledge, registry.revoke_tokens, load_policy],
                activity_executor=executor,
                workflow_runner=workflow_runner(),
                **worker_options,
            ),
            Worker(**common, task_queue=settings.email_task_queue, activities=[send_email]),
        ):
            yield Pledges(env, settings, mailbox)
    assert mailbox.problems == [], "emails that break the contract with the email engineer"


@pytest.fixture
async def pledges(env: WorkflowEnvironment, settings: Settings, mailbox: Mailbox) -> AsyncIterator[Pledges]:
    async with run_pledge_worker(env, settings, mailbox) as running:
        yield running
