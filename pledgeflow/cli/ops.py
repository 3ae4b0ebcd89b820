"""``pledgeflow ops``: what an operator asks of the fleet from a terminal (README, "Running it in production").

Lists come from Temporal visibility (the pledges' search attributes), one row per pledge: its current run.
One pledge's story comes from its workflow query, and every change goes through the workflow's own updates,
so the rules stay there. Each command sees only this deployment's pledges (PLEDGEFLOW_TASK_QUEUE).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from pledgeflow.cli.startup import settings_or_exit
from workflows.emails import EmailKind
from workflows.state import PledgeStatus

if TYPE_CHECKING:
    from rich.console import Console
    from temporalio.service import RPCError

    from pledgeflow.core.settings import Settings
    from pledgeflow.operations.extensions import ExtendAllResult
    from pledgeflow.operations.fleet import FleetRow
    from pledgeflow.temporal.pledge_client import PledgeClient, PledgeError
    from workflows.state import ActionResult

ops_app = typer.Typer(help="Inspect and steer the fleet of pledges (operators).", no_args_is_help=True)
T = TypeVar("T")
EXIT_UNREACHABLE = 3


class SortKey(StrEnum):
    deadline = "deadline"
    status = "status"
    missed = "missed"
    organization = "organization"
    id = "id"


def console() -> Console:
    from rich.console import Console

    return Console()


def run_with_client(job: Callable[[PledgeClient, Settings], Awaitable[T]]) -> T:
    from pledgeflow.temporal.connection import connect
    from pledgeflow.temporal.pledge_client import PledgeClient

    settings = settings_or_exit()

    async def main() -> T:
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            typer.secho(f"Temporal at {settings.temporal_address} is unreachable: {exc}", fg="red", err=True)
            raise typer.Exit(EXIT_UNREACHABLE) from None
        return await job(PledgeClient(settings, client), settings)

    return asyncio.run(main())


def _act(pledge_id: str, update: Callable[[PledgeClient], Awaitable[ActionResult]]) -> ActionResult:
    """One update of one pledge's workflow; a refusal or an unknown pledge ends the command with exit status 1."""
    from temporalio.service import RPCError

    from pledgeflow.temporal.pledge_client import PledgeError

    async def job(pledges: PledgeClient, _: Settings) -> ActionResult:
        try:
            return await update(pledges)
        except (PledgeError, RPCError) as exc:
            raise _failed(pledge_id, exc) from None

    return run_with_client(job)


def _failed(pledge_id: str, error: PledgeError | RPCError) -> typer.Exit:
    typer.secho(f"{pledge_id}: {error}", fg="red", err=True)
    return typer.Exit(1)


def _when(value: dt.datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "—"


@ops_app.command("list")
def list_pledges(
    status: Annotated[PledgeStatus | None, typer.Option(help="Only pledges in this status.")] = None,
    due_before: Annotated[
        dt.datetime | None, typer.Option(help="Only pledges whose next deadline is before this time (UTC).")
    ] = None,
    sort: Annotated[SortKey, typer.Option(help="Order of the rows (deadline: soonest first, none last).")] = (
        SortKey.deadline
    ),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of a table.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many rows.")] = 1000,
) -> None:
    """One row per pledge (its current run), as Temporal visibility sees them; closed ones with --status closed."""
    from pledgeflow.operations import fleet

    async def job(pledges: PledgeClient, settings: Settings) -> list[FleetRow]:
        query = fleet.current_runs_query(settings.task_queue, status, due_before)
        return await fleet.rows(await pledges.temporal(), query, limit)

    rows = fleet.sorted_rows(run_with_client(job), sort.value)
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows], indent=2))
        return
    from rich.table import Table

    table = Table("pledge", "status", "next deadline", "missed", "organisation")
    for row in rows:
        table.add_row(row.pledge_id, row.status, _when(row.next_deadline), str(row.missed_cycles), row.organization)
    screen = console()
    screen.print(table)
    screen.print(f"{len(rows)} pledge(s)")


@ops_app.command("show")
def show(pledge_id: Annotated[str, typer.Argument(help="The pledge id, e.g. PF-7K3M9QX.")]) -> None:
    """Why a pledge is where it is: its status and the step that put it there, its ladder, what comes next
    and who may move it on, then its whole timeline."""
    from rich.table import Table
    from temporalio.service import RPCError

    from pledgeflow.core.db import session_for
    from pledgeflow.operations.explain import explain, ladder_rows
    from pledgeflow.registry.pledge_history import with_whole_history
    from pledgeflow.temporal.pledge_client import PledgeError

    async def job(pledges: PledgeClient, settings: Settings) -> None:
        try:
            carried = await pledges.state(pledge_id)
        except (PledgeError, RPCError) as exc:
            raise _failed(pledge_id, exc) from None
        # The lines of earlier runs are in the registry only (pledgeflow/registry/pledge_history.py).
        with session_for(settings.database_url) as session:
            state = with_whole_history(session, carried)
        screen = console()
        screen.print(f"[bold]{state.pledge_id}[/bold] {state.submission.title}")
        for line in explain(state):
            screen.print(line, highlight=False)
        steps = ladder_rows(state)
        if steps:
            ladder = Table("step", "when", "", title="the ladder of this stage")
            for says, at, taken in steps:
                ladder.add_row(says, _when(at), taken)
            screen.print(ladder)
        timeline = Table("#", "when", "who", "what", "status", title="timeline")
        for event in state.timeline:
            timeline.add_row(str(event.seq), _when(event.at), event.registry_actor, event.message, event.status.value)
        screen.print(timeline)

    run_with_client(job)


@ops_app.command("resend")
def resend(
    pledge_id: Annotated[str, typer.Argument(help="The pledge id.")],
    staff: Annotated[str, typer.Option(help="The operator's name, for the timeline.")],
    kind: Annotated[
        EmailKind | None, typer.Option(help="This kind of email (default: the cycle's last email).")
    ] = None,
) -> None:
    """Send an email of the current cycle again (the last one, or the last of --kind) to the same people: a new
    message of its own in the send ledger, and a line on the pledge's staff timeline."""
    from workflows.state import ResendInput

    result = _act(pledge_id, lambda pledges: pledges.resend_email(pledge_id, ResendInput(kind=kind, staff=staff)))
    typer.echo(f"{pledge_id}: {result.message}")


@ops_app.command("failed-emails")
def failed_emails(
    pledge_id: Annotated[str | None, typer.Argument(help="Only this pledge's.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array instead of a table.")] = False,
) -> None:
    """E-mails that need an operator, from the send ledger: refused for good by the SMTP server (failed), or
    handed over and never confirmed (unconfirmed, never sent again by itself); those not resent yet."""
    from pledgeflow.operations.failed_emails import failed_emails as listed

    entries = listed(settings_or_exit().database_url, pledge_id)
    if as_json:
        fields = ("pledge_id", "cycle", "kind", "recipient", "state", "attempts", "last_error", "message_id")
        rows = [
            {**{name: getattr(entry, name) for name in fields}, "at": entry.created_at.isoformat()} for entry in entries
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table("pledge", "cycle", "kind", "recipient", "state", "attempts", "since", "why")
    for entry in entries:
        table.add_row(
            entry.pledge_id,
            str(entry.cycle),
            entry.kind,
            entry.recipient,
            entry.state,
            str(entry.attempts),
            _when(entry.created_at),
            entry.last_error or "",
        )
    screen = console()
    screen.print(table)
    screen.print(f"{len(entries)} email(s) need an operator")


@ops_app.command("resend-failed")
def resend_failed(
    staff: Annotated[str, typer.Option(help="The operator's name, for the timeline.")],
    pledge_id: Annotated[str | None, typer.Argument(help="Resend this pledge's failed emails.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Resend every failed email of every pledge.")] = False,
) -> None:
    """Send the emails `ops failed-emails` lists again, through each pledge's workflow (as `ops resend`
    does): one new message per pledge and kind, to that email's recipients, and a line on its timeline."""
    from pledgeflow.operations import failed_emails as operations

    if (pledge_id is not None) == every:
        typer.secho("name a pledge id or give --all, not both", fg="red", err=True)
        raise typer.Exit(2)

    async def job(pledges: PledgeClient, settings: Settings) -> list[operations.ResendResult]:
        entries = operations.failed_emails(settings.database_url, pledge_id)
        return await operations.resend_failed(pledges, settings.database_url, entries, staff)

    results = run_with_client(job)
    for result in results:
        typer.secho(f"{result.pledge_id} {result.kind}: {result.message}", fg=None if result.ok else "red")
    typer.echo(f"resent {sum(result.ok for result in results)}, refused {sum(not result.ok for result in results)}")
    if not all(result.ok for result in results):
        raise typer.Exit(1)


@ops_app.command("extend-all")
def extend_all(
    days: Annotated[int, typer.Option(min=1, help="Days to add to every open cycle.")],
    reason: Annotated[str, typer.Option(help="Why, shown on every pledge's timeline (e.g. a form outage).")],
    staff: Annotated[str, typer.Option(help="The operator's name, for the timeline.")],
) -> None:
    """Extend every open reporting cycle at once; each pledge's own rules (the maximum) still apply."""
    from pledgeflow.operations import extensions

    async def job(pledges: PledgeClient, settings: Settings) -> ExtendAllResult:
        return await extensions.extend_all_open_cycles(pledges, days, reason, staff, task_queue=settings.task_queue)

    result = run_with_client(job)
    screen = console()
    screen.print(f"extended {len(result.extended)}, refused {len(result.refused)}, failed {len(result.failed)}")
    for pledge_id, why in sorted({**result.refused, **result.failed}.items()):
        screen.print(f"  {pledge_id}: {why}")
    if result.failed:
        raise typer.Exit(1)


@ops_app.command("close")
def close(
    pledge_id: Annotated[str, typer.Argument(help="The pledge id.")],
    reason: Annotated[str, typer.Option(help="Why it is removed; shown publicly.")],
    staff: Annotated[str, typer.Option(help="The operator's name, for the timeline.")],
) -> None:
    """Close a pledge as removed, with the reason shown publicly."""
    from workflows.state import ClosureInput

    result = _act(pledge_id, lambda pledges: pledges.close(pledge_id, ClosureInput(reason=reason, staff=staff)))
    console().print(f"{pledge_id}: {result.status.value}. {result.message}")
