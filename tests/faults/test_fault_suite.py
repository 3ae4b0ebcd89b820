"""The short fault run in the normal test suite: 20 seeded lifecycles, 2 worker kills timed at emails, an SMTP
outage (refused, then 421, then 451), a database outage timed between an SMTP 250 and the ledger write, and an
API restart. Every check of tests/faults/checks.py must come out clean (docs/reliability.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.faults.run import SHORT, execute


@pytest.mark.faults
async def test_short_fault_run_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    figures = await execute(SHORT, tmp_path)
    (tmp_path / "faults.json").write_text(json.dumps(figures, indent=2))
    assert figures["faults_done"]["worker_kills"] and figures["faults_done"]["database"], figures["faults_done"]
    assert figures["counts"]["emails_expected"] > 0
    problems = {name: figures["details"][name] for name, count in figures["problems"].items() if count}
    assert not problems, json.dumps(problems, indent=2)
