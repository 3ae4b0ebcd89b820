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
    done = figures["faults_done"]
    # The run must have reached the moments it is there for: a send recorded as sent whose completion Temporal
    # never heard of (only the ledger's guard stops its resend), and the database gone after a 250.
    assert any("ledger sent" in str(kill["when"]) for kill in done["worker_kills"]), done["worker_kills"]
    assert done["database"] and done["database"][0]["email"], done["database"]
    assert figures["counts"]["emails_expected"] > 0
    problems = {name: figures["details"][name] for name, count in figures["problems"].items() if count}
    assert not problems, json.dumps(problems, indent=2)
