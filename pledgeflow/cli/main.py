"""The ``pledgeflow`` command: the parts of the stack, staff accounts and the database."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
import uvicorn

from pledgeflow.cli.ops import ops_app
from pledgeflow.cli.staff import staff_app
from pledgeflow.cli.startup import settings_or_exit
from pledgeflow.cli.token_revocation import revoke_tokens_command
from pledgeflow.core import db

app = typer.Typer(help="Pledgeflow: public pledges from submission to closure.", no_args_is_help=True)
db_app = typer.Typer(help="The registry database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(ops_app, name="ops")
ops_app.command("revoke-tokens")(revoke_tokens_command)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the registry database to the newest schema (PLEDGEFLOW_DATABASE_URL)."""
    settings = settings_or_exit()
    db.upgrade(settings.database_url)
    typer.echo(f"database at newest schema: {settings.database_url}")


@app.command()
def worker() -> None:
    """Run the Temporal worker: pledge workflows, registry and email activities."""
    from pledgeflow.temporal.connection import connect
    from pledgeflow.temporal.worker import run_workers

    settings = settings_or_exit()

    async def main() -> None:
        client = await connect(settings)
        await run_workers(client, settings)

    asyncio.run(main())


@app.command()
def inbound() -> None:
    """Receive replies by email: an SMTP server for reply+TOKEN@ addresses (PLEDGEFLOW_INBOUND_*)."""
    from pledgeflow.inbound.receiver import serve

    settings = settings_or_exit()
    typer.echo(
        f"inbound SMTP on {settings.inbound_host}:{settings.inbound_port} for reply+TOKEN@{settings.inbound_domain}"
    )
    asyncio.run(serve(settings))


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (PLEDGEFLOW_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PLEDGEFLOW_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API and pages with uvicorn."""
    from api.access_log import uvicorn_log_config
    from api.app import create_app
    from api.routers.metrics import serve_on_own_address

    settings = settings_or_exit()
    app = create_app(settings)
    if serve_on_own_address(app, settings):
        typer.echo(f"metrics on http://{settings.metrics_host}:{settings.metrics_port}/metrics")
    uvicorn.run(
        app,
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_level="info",
        log_config=uvicorn_log_config(),
    )


@app.command()
def dev(
    policy: Annotated[
        str | None,
        typer.Option(help="Policy preset: default, demo (the ladder in seconds), global_compact [PLEDGEFLOW_POLICY]."),
    ] = None,
) -> None:
    """Run the whole stack: Temporal with its UI, database, SMTP sink, inbound, worker and API; Ctrl-C stops all.

    State lives under PLEDGEFLOW_HOME (default .pledgeflow/), so the next run finds the pledges of this one.
    """
    from pledgeflow.devstack.runner import DevError, run

    settings = settings_or_exit(dev_mode=True, **({"policy": policy} if policy else {}))
    try:
        run(settings, typer.echo)
    except DevError as exc:
        typer.secho(f"pledgeflow dev: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
