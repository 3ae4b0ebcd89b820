"""The sandbox runs a workflow's module afresh for every run: the worker's runner compiles it once (issue 10)."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from pledgeflow.temporal.worker import workflow_runner

PROBE = """
from temporalio import workflow


@workflow.defn
class Probe:
    @workflow.run
    async def run(self) -> None:
        return None
"""

compiled: list[str] = []


def _count_compiles(event: str, args: tuple[Any, ...]) -> None:
    if event == "compile" and len(args) > 1 and isinstance(args[1], str):
        compiled.append(args[1])


sys.addaudithook(_count_compiles)  # an audit hook cannot be removed: it only appends file names


@pytest.fixture
def probe_workflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[type, str]]:
    """A workflow module of its own, with no bytecode, in an interpreter that writes none by itself
    (as with PYTHONDONTWRITEBYTECODE, which this machine and CI set)."""
    name = f"bytecode_probe_{uuid.uuid4().hex}"
    source = tmp_path / f"{name}.py"
    source.write_text(PROBE)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(name)
    yield module.Probe, str(source)
    sys.modules.pop(name, None)


def _compiles_over_three_runs(runner: SandboxedWorkflowRunner, cls: type, source: str) -> int:
    """How often the source is compiled while the runner prepares the workflow three times, each time creating
    a run in the sandbox (a worker prepares once; the runs it creates later load the module the same way)."""
    defn = workflow._Definition.must_from_class(cls)
    compiled.clear()
    for _ in range(3):
        runner.prepare_workflow(defn)
    return compiled.count(source)


def _has_bytecode(source: str) -> bool:
    return Path(importlib.util.cache_from_source(source)).is_file()


def _edit(source: str) -> None:
    path = Path(source)
    path.write_text(PROBE.replace("return None", "return"))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))  # the bytecode's stamp is the source's mtime


async def test_the_sdk_sandbox_compiles_the_module_for_every_run(probe_workflow: tuple[type, str]) -> None:
    cls, source = probe_workflow
    assert _compiles_over_three_runs(SandboxedWorkflowRunner(), cls, source) == 3


async def test_the_worker_runner_compiles_it_once(probe_workflow: tuple[type, str]) -> None:
    cls, source = probe_workflow
    assert _compiles_over_three_runs(workflow_runner(), cls, source) == 1
    assert _has_bytecode(source)


async def test_a_changed_module_is_compiled_again(probe_workflow: tuple[type, str]) -> None:
    cls, source = probe_workflow
    runner = workflow_runner()
    _compiles_over_three_runs(runner, cls, source)
    _edit(source)
    assert _compiles_over_three_runs(runner, cls, source) == 1
