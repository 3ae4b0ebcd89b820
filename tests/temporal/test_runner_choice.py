"""Which runner the workers use (docs/lifecycle.md §16): unsandboxed unless the setting asks for the sandbox.
The workflow tests and the replays build theirs with ``workflow_runner``, always the sandbox."""

from __future__ import annotations

from pathlib import Path

from temporalio.worker import UnsandboxedWorkflowRunner

from pledgeflow.temporal.worker import CompiledSandboxRunner, production_runner
from tests.conftest import make_settings


def test_workers_run_unsandboxed_unless_the_setting_asks(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert settings.worker_sandbox is False
    assert isinstance(production_runner(settings), UnsandboxedWorkflowRunner)
    sandboxed = production_runner(settings.model_copy(update={"worker_sandbox": True}))
    assert isinstance(sandboxed, CompiledSandboxRunner)
