"""``pledgeflow ops``: what an operator asks of the fleet from a terminal (README, "Running it in production").

Lists come from Temporal visibility (the pledges' search attributes), one pledge's story from its
workflow query, and every change goes through the workflow's own updates, so the rules stay there.
Each command sees only this deployment's pledges (PLEDGEFLOW_TASK_QUEUE).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from temporalio.service import RPCError

from pledgeflow.cli.startup import settings_or_exit
from pledgeflow.core.settings import Settings
from pledgeflow.operations import extensions
from pledgeflow.temporal.connection import connect
from pledgeflow.temporal.pledge_client import PledgeClient, PledgeError
from workflows.search_attributes import MISSED_CYCLES, NEXT_DEADLINE, ORGANIZATION, STATUS
from workflows.state import WORKFLOW_TYPE, ActionResult, ClosureInput, PledgeStatus, workflow_id

ops_app = typer.Typer(help="Inspect and steer the fleet of pledges (operators).", no_args_is_help=True)
console = Console()
T = TypeVar("T")


def _run(job: Callable[[PledgeClient, Settings], Awaitable[T]]) -> T:
    settings = settings_or_exit()

    async def main() -> T:
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            typer.secho(f"Temporal at {settings.temporal_address} is unreachable: {exc}", fg="red", err=True)
            raise typer.Exit(3) from None
        return await job(PledgeClient(settings, client), settings)

    return asyncio.run(main())


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
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many rows.")] = 100,
) -> None:
    """Pledges by status or deadline, soonest deadline first, as Temporal visibility sees them."""

    async def job(pledges: PledgeClient, settings: Settings) -> None:
        query = f"WorkflowType = '{WORKFLOW_TYPE}' AND TaskQueue = '{settings.task_queue}'"
        if status is not None:
            query += f" AND PledgeStatus = '{status.value}'"
        if due_before is not None:
            moment = due_before.replace(tzinfo=due_before.tzinfo or dt.UTC)
            query += f" AND PledgeNextDeadline < '{moment.isoformat()}'"
        rows = []
        async for execution in (await pledges.temporal()).list_workflows(query, limit=limit):
            attributes = execution.typed_search_attributes
            rows.append(
                (
                    execution.id.removeprefix(workflow_id("")),
                    attributes.get(STATUS) or "",
                    attributes.get(NEXT_DEADLINE),
                    attributes.get(MISSED_CYCLES) or 0,
                    attributes.get(ORGANIZATION) or "",
                )
            )
        rows.sort(key=lambda row: (row[2] is None, row[2] or dt.datetime.max.replace(tzinfo=dt.UTC), row[0]))
        table = Table("pledge", "status", "next deadline", "missed", "organisation")
        for pledge_id, pledge_status, deadline, missed, organization in rows:
            table.add_row(pledge_id, pledge_status, _when(deadline), str(missed), organization)
        console.print(table)
        console.print(f"{len(rows)} pledge(s)")

    _run(job)


@ops_app.command("show")
def show(pledge_id: Annotated[str, typer.Argument(help="The pledge id, e.g. PF-7K3M9QX.")]) -> None:
    """One pledge's status, next step and whole timeline, from its workflow."""

    async def job(pledges: PledgeClient, _: Settings) -> None:
        try:
            state = await pledges.state(pledge_id)
        except (PledgeError, RPCError) as exc:
            raise _failed(pledge_id, exc) from None
        closure = f" ({state.closure_reason.value})" if state.closure_reason else ""
        console.print(f"[bold]{state.pledge_id}[/bold] {state.submission.title}")
        console.print(f"status: {state.status.value}{closure}   cycle: {state.cycle}   missed: {state.missed_cycles}")
        console.print(f"next: {state.next_step or '—'} at {_when(state.next_deadline)}")
        console.print(f"last email: {state.last_email or '—'}")
        table = Table("#", "when", "who", "what", "status")
        for event in state.timeline:
            table.add_row(str(event.seq), _when(event.at), event.registry_actor, event.message, event.status.value)
        console.print(table)

    _run(job)


@ops_app.command("extend-all")
def extend_all(
    days: Annotated[int, typer.Option(min=1, help="Days to add to every open cycle.")],
    reason: Annotated[str, typer.Option(help="Why, shown on every pledge's timeline (e.g. a form outage).")],
    staff: Annotated[str, typer.Option(help="The operator's name, for the timeline.")],
) -> None:
    """Extend every open reporting cycle at once; each pledge's own rules (the maximum) still apply."""

    async def job(pledges: PledgeClient, settings: Settings) -> extensions.ExtendAllResult:
        return await extensions.extend_all_open_cycles(pledges, days, reason, staff, task_queue=settings.task_queue)

    result = _run(job)
    console.print(f"extended {len(result.extended)}, refused {len(result.refused)}, failed {len(result.failed)}")
    for pledge_id, why in sorted({**result.refused, **result.failed}.items()):
        console.print(f"  {pledge_id}: {why}")
    if result.failed:
        raise typer.Exit(1)


@ops_app.command("close")
def close(
    pledge_id: Annotated[str, typer.Argument(help="The pledge id.")],
    reason: Annotated[str, typer.Option(help="Why it is removed; shown publicly.")],
    staff: Annotated[str, typer.Option(help="The operator's name, for the timeline.")],
) -> None:
    """Close a pledge as removed, with the reason shown publicly."""

    async def job(pledges: PledgeClient, _: Settings) -> ActionResult:
        try:
            return await pledges.close(pledge_id, ClosureInput(reason=reason, staff=staff))
        except (PledgeError, RPCError) as exc:
            raise _failed(pledge_id, exc) from None

    result = _run(job)
    console.print(f"{pledge_id}: {result.status.value}. {result.message}")
