"""Recording pledge histories for the replay test (tests/workflows/test_replay.py).

Run ``PLEDGEFLOW_RECORD_HISTORIES=1 .venv/bin/python -m pytest tests/workflows`` to (re)write
tests/workflows/histories/<scenario>.<run>.json from the tests that call :func:`record`: one file per
workflow run, since every reporting cycle is a run of its own. Record again only for a deliberate
change, kept behind ``workflow.patched``; the old files then stay as the proof that running pledges
still replay.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.workflows.driver import Pledge

HISTORIES = Path(__file__).parent / "histories"


def recording() -> bool:
    return os.environ.get("PLEDGEFLOW_RECORD_HISTORIES") == "1"


async def record(pledge: Pledge, scenario: str) -> None:
    """Write every run of ``pledge`` as ``<scenario>.<n>.json`` when recording is switched on."""
    if not recording():
        return
    HISTORIES.mkdir(exist_ok=True)
    for stale in HISTORIES.glob(f"{scenario}.*.json"):
        stale.unlink()
    for number, run_id in enumerate(await pledge.run_ids(), start=1):
        handle = pledge.pledges.client.get_workflow_handle(pledge.handle.id, run_id=run_id)
        history = await handle.fetch_history()
        (HISTORIES / f"{scenario}.{number}.json").write_text(history.to_json())
