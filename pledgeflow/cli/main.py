"""The ``pledgeflow`` command: the parts of the stack, staff accounts, the database and the operators' tools.

Start-up stays light (``pledgeflow --help`` loads Typer and a few enums): every command imports what it
needs (the web server, the database, Temporal) when it runs, not when the command line is read.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pledgeflow.cli.bench import bench
from pledgeflow.cli.importing import import_registry
from pledgeflow.cli.inbound import inbound_app
from pledgeflow.cli.ops import ops_app
from pledgeflow.cli.report import report
from pledgeflow.cli.staff import staff_app
from pledgeflow.cli.startup import settings_or_exit
from pledgeflow.cli.suppressions import suppressions_app
from pledgeflow.cli.token_revocation import revoke_tokens_command

app = typer.Typer(help="Pledgeflow: public pledges from submission to closure.", no_args_is_help=True)
db_app = typer.Typer(help="The registry database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(staff_app, name="staff")
app.add_typer(ops_app, name="ops")
app.add_typer(inbound_app, name="inbound")
ops_app.add_typer(suppressions_app, name="suppressions")
app.command("import")(import_registry)
app.command("report")(report)
app.command("bench")(bench)
ops_app.command("revoke-tokens")(revoke_tokens_command)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the registry database to the newest schema (PLEDGEFLOW_DATABASE_URL)."""
    from pledgeflow.core import db

    settings = settings_or_exit()
    db.upgrade(settings.database_url)
    typer.echo(f"database at newest schema: {settings.database_url}")


@app.command()
def worker() -> None:
    """Run the Temporal worker: pledge workflows, registry and email activities.

    With PLEDGEFLOW_WORKER_METRICS_PORT it also serves the SDK's Prometheus metrics (failed activities by type)."""
    import asyncio

    from pledgeflow.temporal.connection import connect, worker_runtime
    from pledgeflow.temporal.worker import run_workers

    settings = settings_or_exit()

    async def main() -> None:
        client = await connect(settings, worker_runtime(settings))
        await run_workers(client, settings)

    asyncio.run(main())


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="Bind address (PLEDGEFLOW_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (PLEDGEFLOW_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API and pages with uvicorn."""
    import uvicorn

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
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Seed 40 realistic pledges in every status (a restart seeds nothing twice)."),
    ] = False,
) -> None:
    """Run the whole stack: Temporal with its UI, database, SMTP sink, inbound, worker and API; Ctrl-C stops all.

    State lives under PLEDGEFLOW_HOME (default .pledgeflow/), so the next run finds the pledges of this one.
    """
    from pledgeflow.devstack.runner import DevError, run

    settings = settings_or_exit(dev_mode=True, **({"policy": policy} if policy else {}))
    try:
        run(settings, typer.echo, demo)
    except DevError as exc:
        typer.secho(f"pledgeflow dev: {exc}", fg="red", err=True)
        raise typer.Exit(1) from None
