"""One bench run: the chosen parts in order, a Rich progress display, the JSON file and the summary table."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress as RichProgress
from rich.progress import SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from pledgeflow.bench.figures import Goal, Part
from pledgeflow.bench.scale import Progress, Scale
from pledgeflow.cli.bench import PARTS

PartRun = Callable[[Scale, Progress], Awaitable[Part]]
PIPED_WIDTH = 160


def _part(name: str, keep: Path | None) -> PartRun:
    """The part's ``run``, imported when it runs (each brings its own servers and libraries)."""
    if name == "engine":
        from pledgeflow.bench import engine

        return engine.run
    if name == "email":
        from pledgeflow.bench import email

        return email.run
    if name == "history":
        from pledgeflow.bench import history

        return history.run
    if name == "registry":
        from pledgeflow.bench import registry

        return lambda scale, progress: registry.run(scale, progress, keep)
    if name == "memory":
        from pledgeflow.bench import memory

        return memory.run
    if name == "inbound":
        from pledgeflow.bench import inbound

        return inbound.run
    raise ValueError(f"unknown part {name!r}; the parts are {', '.join(PARTS)}")


def _describe(bar: RichProgress, step: TaskID, what: str) -> None:
    bar.update(step, description=what)


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


async def run_parts(scale: Scale, parts: list[str], keep: Path | None, console: Console) -> dict[str, Any]:
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    with RichProgress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        overall = bar.add_task("bench", total=len(parts))
        for name in parts:
            step = bar.add_task(name, total=None)
            began = time.perf_counter()
            part = await _part(name, keep)(scale, functools.partial(_describe, bar, step))
            seconds[name] = round(time.perf_counter() - began, 1)
            results[name] = part
            bar.update(step, description=f"{name}: done in {seconds[name]:.0f}s", total=1, completed=1)
            bar.advance(overall)
    return {"parts": results, "seconds": seconds}


def bench(scale_options: dict[str, Any], quick: bool, parts: list[str], out: Path, keep: Path | None) -> bool:
    """Run the parts, write ``out``; True when every goal holds."""
    console = Console(stderr=True)
    machine_info = machine()
    started = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory(prefix="pledgeflow-bench-") as folder:
        scale = Scale(folder=Path(folder), **scale_options)
        if quick:
            scale = scale.quick()
        outcome = asyncio.run(run_parts(scale, parts, keep, console))
    results: dict[str, Part] = outcome["parts"]
    figures = [figure for part in results.values() for figure in part.figures]
    report = {
        "started_at": started.isoformat(),
        "quick": quick,
        "machine": machine_info,
        "scale": {k: v for k, v in vars(scale).items() if k not in {"folder", "postgres_url"}},
        "seconds": outcome["seconds"],
        "all_goals_hold": all(figure.holds is not False for figure in figures),
        "parts": {name: part.as_json() for name, part in results.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    # Piped (CI logs, a file to paste from), the table gets room for its longest rows instead of 80 columns.
    Console(width=None if sys.stdout.isatty() else PIPED_WIDTH).print(summary(results))
    return bool(report["all_goals_hold"])


def summary(results: dict[str, Part]) -> Table:
    """One row per figure; a p50 and the p95 after it share a row (the goal is on the p95)."""
    table = Table(title="pledgeflow bench")
    for column in ("part", "figure", "value", "unit", "goal", "holds"):
        table.add_column(column, justify="right" if column == "value" else "left")
    marks = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}
    for part in results.values():
        figures = iter(part.figures)
        for figure in figures:
            if figure.name.endswith(" p50"):
                p95 = next(figures)
                value, unit, goal = f"{figure.value:,.1f} / {p95.value:,.1f}", f"{p95.unit} p50 / p95", p95.goal
                table.add_row(
                    part.name, figure.name.removesuffix(" p50"), value, unit, _goal(goal, "p95 "), marks[p95.holds]
                )
            else:
                table.add_row(
                    part.name, figure.name, f"{figure.value:,.2f}", figure.unit, _goal(figure.goal), marks[figure.holds]
                )
    return table


def _goal(goal: Goal | None, prefix: str = "") -> str:
    return f"{prefix}{goal}" if goal else ""
