"""``pledgeflow report``: the registry's summary report as files (HTML with charts, CSV, optionally XLSX)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from pledgeflow.cli.startup import settings_or_exit


def report(
    out: Annotated[Path | None, typer.Option(help="Directory to write to (default: pledgeflow-report-DATE).")] = None,
    formats: Annotated[
        str, typer.Option("--format", help="Comma-separated: html, csv, xlsx (one sheet per section).")
    ] = "html,csv",
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(help="The registry as it stood at this time (UTC), from its timeline; default now."),
    ] = None,
) -> None:
    """Write the registry's summary report: overall numbers, SDG and geographic coverage, time frame, partners,
    resources and reporting compliance, from the same statistics as /stats."""
    from pledgeflow.core.db import session_for
    from pledgeflow.registry import report as registry_report
    from pledgeflow.registry.as_of import registry_as_of
    from pledgeflow.registry.search import RegistryFilters
    from pledgeflow.registry.stats import registry_stats

    wanted = [name.strip() for name in formats.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in registry_report.FORMATS]
    if unknown or not wanted:
        typer.secho(f"--format: choose from {', '.join(registry_report.FORMATS)}", fg="red", err=True)
        raise typer.Exit(2)
    settings = settings_or_exit()
    now = dt.datetime.now(dt.UTC)
    moment = as_of.replace(tzinfo=as_of.tzinfo or dt.UTC) if as_of else now
    if moment > now:
        typer.secho("--as-of: a time in the future", fg="red", err=True)
        raise typer.Exit(2)
    with session_for(settings.database_url) as session:
        if as_of is None:
            stats = registry_stats(session, RegistryFilters())
        else:
            with registry_as_of(session, moment) as snapshot:
                stats = registry_stats(snapshot, RegistryFilters())
    built = registry_report.build(stats, moment)
    directory = out or Path(f"pledgeflow-report-{moment:%Y-%m-%d}")
    for path in registry_report.write(built, directory, wanted):
        typer.echo(str(path))
