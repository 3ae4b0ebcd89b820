"""``pledgeflow import FILE``: bring an earlier registry in (docs/import.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pledgeflow.cli.startup import settings_or_exit

if TYPE_CHECKING:
    from pledgeflow.core.settings import Settings
    from pledgeflow.operations.importing import Line, Result, Summary

EXIT_REJECTED = 1
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130


def import_registry(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON Lines (.jsonl: one submission per line) or CSV (.csv, the header in docs/import.md).",
            exists=True,
            dir_okay=False,
            readable=True,
            metavar="FILE",
        ),
    ],
    notify: Annotated[
        bool,
        typer.Option(
            "--notify/--no-notify",
            help="Email each pledge what its current step asks for (a report request, say). Nothing is ever "
            "sent for what has passed.",
        ),
    ] = False,
    check: Annotated[bool, typer.Option("--check", help="Only check the lines and report the rejected ones.")] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=256, help="Workflows started at a time.")] = 16,
) -> None:
    """Bring an earlier registry in: each line becomes a pledge's workflow at the right point of its ladder.

    Idempotent: a line is the same pledge as before by its external_id (or its content), so importing a file
    again, or again after Ctrl-C, starts only what is not there yet. Rejected lines are written, with their
    line numbers and an error per field, to FILE.rejected.jsonl beside the input; the exit status is 1 if
    any line was rejected.
    """
    from pledgeflow.operations import importing

    settings = settings_or_exit()
    try:
        lines = importing.read(file, dt.datetime.now(dt.UTC), notify=notify)
    except importing.InputError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    if check:
        summary = importing.Summary(
            [importing.Result(line, importing.Outcome.rejected) for line in lines if line.errors]
        )
        _report_rejected(file, summary)
        typer.echo(f"{len(lines) - len(summary.results)} of {len(lines)} line(s) valid")
        raise typer.Exit(EXIT_REJECTED if summary.results else 0)
    summary = asyncio.run(_import(settings, lines, concurrency))
    _finish(file, summary)


async def _import(settings: Settings, lines: list[Line], concurrency: int) -> Summary:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    from pledgeflow.operations import importing
    from pledgeflow.temporal.connection import connect
    from pledgeflow.temporal.pledge_client import PledgeClient

    try:
        client = await connect(settings)
    except RuntimeError as exc:
        typer.secho(f"Temporal at {settings.temporal_address} is unreachable: {exc}", fg="red", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None

    class RateColumn(ProgressColumn):
        """Lines per second, as the progress bar has measured them."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} lines/s" if speed else "… lines/s", style="progress.data.speed")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C: finish what is in flight and start nothing new. (Only the main thread gets signals: run from
    # another, a test's say, the command has no Ctrl-C to catch.)
    catching = threading.current_thread() is threading.main_thread()
    if catching:
        loop.add_signal_handler(signal.SIGINT, stop.set)
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("elapsed"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("importing", total=len(lines))

            def advanced(result: Result) -> None:
                progress.advance(task)

            return await importing.run(
                PledgeClient(settings, client), lines, concurrency=concurrency, stop=stop, on_result=advanced
            )
    finally:
        if catching:
            loop.remove_signal_handler(signal.SIGINT)


def _finish(file: Path, summary: Summary) -> None:
    from pledgeflow.operations.importing import Outcome

    counts = {outcome: summary.count(outcome) for outcome in Outcome}
    typer.echo(
        f"imported {counts[Outcome.imported]}, already there {counts[Outcome.already]}, "
        f"rejected {counts[Outcome.rejected]}, failed {counts[Outcome.failed]}"
    )
    _report_rejected(file, summary)
    for result in summary.of(Outcome.failed)[:20]:
        typer.secho(f"  line {result.line.number}: {result.detail}", fg="red", err=True)
    if summary.interrupted:
        done = len(summary.results)
        typer.secho(
            f"interrupted after {done} line(s); run the same command again to carry on "
            "(what is already imported is recognised and skipped)",
            fg="yellow",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED)
    if counts[Outcome.failed]:
        typer.secho("some lines could not be started; run the same command again", fg="red", err=True)
        raise typer.Exit(EXIT_UNREACHABLE)
    if counts[Outcome.rejected]:
        raise typer.Exit(EXIT_REJECTED)


def _report_rejected(file: Path, summary: Summary) -> None:
    from pledgeflow.operations.importing import Outcome, write_rejected_report

    report = write_rejected_report(file, summary)
    if report is None:
        return
    rejected = summary.of(Outcome.rejected)
    typer.secho(f"{len(rejected)} line(s) rejected; each with its errors in {report}", fg="red", err=True)
    for result in rejected[:10]:
        errors = "; ".join(f"{error.field}: {error.message}" for error in result.line.errors)
        typer.secho(f"  line {result.line.number}: {errors}", fg="red", err=True)
