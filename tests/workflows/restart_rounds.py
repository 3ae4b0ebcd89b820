"""Many worker-restart rounds of one exclusive-action pair, to measure how often a raced history fails replay.

Not part of the suite (no ``test_`` file name): run it explicitly, best with the machine busy, as CI's is::

    ROUNDS=20 BURN=2 .venv/bin/pytest -q -s tests/workflows/restart_rounds.py

Each round submits a pledge with workers running and waits until it is quiet, stops the workers, fires the
pair (``PAIR``, default ``approve_reject``) at the pledge, starts fresh workers (nothing cached) and replays
every run of the pledge with today's code. With ``LIVE=1`` the pair is fired right after the submission with
the workers running, as in the suite's live rounds, and fresh workers then take the pledge over (these rounds
found the failure workflows/changes.py explains). ``BURN`` processes spin on the CPU meanwhile. It prints how
many rounds had an eagerly dispatched workflow task (the pattern behind the fold ``PATCH_MAIL_SHOWN`` prevents,
workflows/pledge.py) and fails if any history failed to replay (written under ``DUMP``) or the API could not
read a pledge (its uncached workflow failed to replay for the query).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from pledgeflow.temporal.worker import workflow_runner
from tests.workflows.test_exclusive_actions import PAIRS, Racetrack, racetrack  # noqa: F401 - the fixture
from workflows.pledge import PledgeWorkflow

EAGER = "request-from-RespondWorkflowTaskCompleted"  # a task the server handed back with the last completion


def _spin() -> None:
    while True:
        pass


@contextmanager
def _busy(processes: int) -> Iterator[None]:
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(processes)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()


def _keep(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def test_restart_rounds(racetrack: Racetrack) -> None:  # noqa: F811
    pair = PAIRS[os.environ.get("PAIR", "approve_reject")]
    dump = Path(os.environ.get("DUMP", "/tmp/restart-rounds"))
    replayer = Replayer(
        workflows=[PledgeWorkflow], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    rounds, eager, failed = int(os.environ.get("ROUNDS", "20")), 0, []
    live = os.environ.get("LIVE") == "1"
    with _busy(int(os.environ.get("BURN", "0"))):
        for number in range(rounds):
            if live:  # as the suite's rounds: the pair right after the submission, the workers running
                async with racetrack.workers():
                    pledge = await racetrack.pledge(pair)
                    await asyncio.gather(*(racetrack.send(call, pledge) for call in (pair.first, pair.second)))
                sending: list[asyncio.Future[httpx.Response]] = []
            else:
                async with racetrack.workers():
                    pledge = await racetrack.pledge(pair)
                    await racetrack.quiet(pledge)
                sending = [asyncio.ensure_future(racetrack.send(call, pledge)) for call in (pair.first, pair.second)]
                await asyncio.sleep(1)
            async with racetrack.workers():
                await asyncio.gather(*sending)
                try:
                    await racetrack.quiet(pledge)
                except TimeoutError:  # a worker that cannot replay the pledge cannot answer its queries either
                    failed.append(f"round {number}: the API could not read the pledge for 30 s")
                histories = await racetrack.histories(pledge)
            eager += EAGER in histories[0].to_json()
            for run, history in enumerate(histories, start=1):
                result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
                if result.replay_failure is not None:
                    await asyncio.to_thread(_keep, dump / f"round{number}.{run}.json", history.to_json())
                    failed.append(f"round {number} run {run}: {result.replay_failure}")
    print(f"{rounds} rounds, {eager} with an eagerly dispatched task, {len(failed)} replay failures")
    assert not failed, failed
