"""``pledgeflow bench``: the quick run CI makes, through the console script, and the figures' arithmetic."""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pledgeflow.bench.figures import Goal, Part, percentile
from pledgeflow.bench.memory import worker_environment
from pledgeflow.bench.run import summary
from pledgeflow.cli.bench import PARTS
from pledgeflow.cli.main import app
from pledgeflow.core.settings import Settings
from tests.cli.conftest import PLEDGEFLOW, clean_env
from tests.conftest import PG_ADMIN_URL

QUICK_RUN_SECONDS = 600  # CI's budget is three minutes on a quiet machine; this bounds a loaded one


def test_the_quick_run_writes_every_part_with_numbers_and_keeps_the_registry(tmp_path: Path) -> None:
    out, keep = tmp_path / "bench.json", tmp_path / "kept"
    result = subprocess.run(  # noqa: S603  (our own console script)
        [PLEDGEFLOW, "bench", "--quick", "--out", str(out), "--keep", str(keep), "--postgres-url", PG_ADMIN_URL],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=QUICK_RUN_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["quick"] is True
    assert set(report["parts"]) == set(PARTS)
    for name, part in report["parts"].items():
        assert part["figures"], f"{name} measured nothing"
        for figure_name, figure in part["figures"].items():
            assert math.isfinite(figure["value"]), (name, figure_name)
            assert figure["holds"] in (True, False, None)
            assert (figure["goal"] is None) == (figure["holds"] is None), (name, figure_name)
    registry = report["parts"]["registry"]["figures"]
    for database in ("sqlite", "postgresql"):
        assert f"{database} no match p95" in registry and f"{database} export.csv, all pledges" in registry
    assert report["all_goals_hold"] == all(
        figure["holds"] is not False for part in report["parts"].values() for figure in part["figures"].values()
    )
    assert "every goal holds" in result.stdout
    assert all(f"│ {name}" in result.stdout for name in PARTS), "the summary table has a row for every part"

    # --keep leaves the SQLite registry that was measured, every seeded pledge in it.
    with sqlite3.connect(keep / "registry.sqlite") as connection:
        assert connection.execute("SELECT count(*) FROM pledge").fetchone() == (report["scale"]["registry_pledges"],)


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--only", "engine,nope"], "nope"),
        (["--databases", "mysql"], "mysql"),
        (["--only", ","], "nothing"),
        (["--only", "engine", "--keep", "kept"], "--keep"),
        (["--databases", "postgresql", "--keep", "kept"], "--keep"),
    ],
)
def test_an_unknown_part_or_database_is_refused_by_name(arguments: list[str], named: str) -> None:
    result = CliRunner().invoke(app, ["bench", *arguments])
    assert result.exit_code == 2
    assert named in result.output


def test_a_goal_holds_or_not_and_a_figure_without_one_says_neither() -> None:
    part = Part("p")
    assert part.add("ratio", 0.49, "x", Goal(">=", 0.5)).holds is False
    assert part.add("ratio", 0.5, "x", Goal(">=", 0.5)).holds is True
    assert part.add("rate", 3.0, "workflows/s").holds is None
    assert part.as_json()["figures"]["rate"] == {"value": 3.0, "unit": "workflows/s", "goal": None, "holds": None}


def test_percentiles_lie_within_the_samples() -> None:
    samples = [0.001 * n for n in range(1, 101)]
    assert percentile(samples, 50) == pytest.approx(0.0505)
    assert 0.095 <= percentile(samples, 95) <= 0.096
    assert percentile([0.2], 95) == 0.2
    with pytest.raises(ValueError, match="no samples"):
        percentile([], 50)


def test_the_summary_gives_a_latency_one_row_with_its_p50_p95_and_the_p95_verdict() -> None:
    part = Part("registry")
    part.add_latencies("sqlite no match", [0.010, 0.012, 0.030], p95_goal_ms=20)
    part.add("sqlite export.csv, all pledges", 1.5, "s", Goal("<=", 10))
    table = summary({"registry": part})
    assert table.row_count == 2
    figure, value, goal, holds = (list(table.columns[n].cells) for n in (1, 2, 4, 5))
    assert (figure[0], value[0], goal[0], holds[0]) == ("sqlite no match", "12.0 / 28.2", "p95 <= 20", "[red]no[/]")
    assert (figure[1], holds[1]) == ("sqlite export.csv, all pledges", "[green]yes[/]")


def test_the_memory_parts_worker_runs_the_benchs_code_and_none_of_the_shells_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Side by side from a worktree (PYTHONPATH first), the worker measured must run that tree's code."""
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("PLEDGEFLOW_POLICY", "demo")
    environment = worker_environment(Settings(_env_file=None, home=tmp_path))
    assert environment["PYTHONPATH"] == str(tmp_path)
    assert "PLEDGEFLOW_POLICY" not in environment
    monkeypatch.delenv("PYTHONPATH")
    assert "PYTHONPATH" not in worker_environment(Settings(_env_file=None, home=tmp_path))
