"""The worker: pledge workflows and registry activities on ``pledges``, email on ``pledge-email``."""

from __future__ import annotations

import asyncio
import compileall
import concurrent.futures
import logging
import sys
from collections.abc import Sequence

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.email import EmailActivities
from activities.policy import PolicyActivities
from activities.registry import RegistryActivities
from pledgeflow.core.settings import Settings
from workflows.pledge import PledgeWorkflow

# Deterministic libraries the workflow's models are built on: imported once, outside the sandbox,
# instead of re-imported (and warned about) in every workflow run.
PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "email_validator", "idna", "dns")

logger = logging.getLogger(__name__)


class CompiledSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox, with each workflow's module compiled once, when the worker prepares it.

    The sandbox runs a workflow class's module afresh for every workflow run it creates (a new pledge, a
    cached run evicted and replayed, a continue-as-new). Python reads that module's bytecode from its
    ``__pycache__`` when one is there, and otherwise compiles the source again, each time: so with
    ``PYTHONDONTWRITEBYTECODE`` set, or an install that never compiled (``pip install -e``), every run
    compiled workflows/pledge.py: a quarter of the workflow threads' time in a profile of the bench's engine
    part (issue 10, docs/benchmark.md stop 20). The bytecode is written as pip writes it at install and is
    read only while it matches the source.
    """

    def prepare_workflow(self, defn: workflow._Definition) -> None:
        compile_module_of(defn.cls)
        super().prepare_workflow(defn)


def compile_module_of(cls: type) -> bool:
    """Write the bytecode of the module defining ``cls`` unless it is there and current; False (and a warning)
    if it cannot be written, for example on a read-only install: runs then compile it, as before."""
    source = getattr(sys.modules[cls.__module__], "__file__", None)
    if source is None or not source.endswith(".py"):
        return True
    if compileall.compile_file(source, quiet=2):
        return True
    logger.warning("cannot write the bytecode of %s: every workflow run will compile it again", source)
    return False


def production_runner(settings: Settings) -> WorkflowRunner:
    """The workers' runner: unsandboxed unless ``worker_sandbox`` is set (docs/lifecycle.md §16).

    The sandbox re-runs workflows/pledge.py for every run and routes each payload's serialization through it;
    without it a run costs about half the workflow CPU (docs/benchmark.md, stop 20). What the sandbox would
    catch is checked before a deploy instead: ruff's banned-api rule over all of workflows/ (the clock,
    randomness, the environment), and the workflow tests and every recorded history run in the sandbox
    (``workflow_runner``)."""
    return workflow_runner() if settings.worker_sandbox else UnsandboxedWorkflowRunner()


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandbox, as the workflow tests, the replays and ``PLEDGEFLOW_WORKER_SANDBOX=true`` run in it."""
    return CompiledSandboxRunner(
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
            workflow_runner=production_runner(settings),
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
