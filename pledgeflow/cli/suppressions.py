"""``pledgeflow ops suppressions``: the do-not-email list that bounces and complaints write (docs/email.md §6)."""

from __future__ import annotations

from typing import Annotated

import typer

from pledgeflow.cli.startup import settings_or_exit

suppressions_app = typer.Typer(help="The do-not-email list: see it, lift an entry.", no_args_is_help=True)


@suppressions_app.command("list")
def list_suppressions() -> None:
    """Every do-not-email address, newest first, with why and its last bounce."""
    from rich.console import Console
    from rich.table import Table
    from sqlmodel import col, select

    from pledgeflow.core.db import session_for
    from pledgeflow.core.models import EmailBounce, EmailSuppression

    settings = settings_or_exit()
    table = Table("address", "reason", "since", "last bounce")
    with session_for(settings.database_url) as session:
        rows = session.exec(select(EmailSuppression).order_by(col(EmailSuppression.created_at).desc())).all()
        for row in rows:
            bounce = session.exec(
                select(EmailBounce).where(EmailBounce.recipient == row.email).order_by(col(EmailBounce.id).desc())
            ).first()
            last = f"{bounce.status} {bounce.detail or ''}".strip() if bounce else "—"
            table.add_row(row.email, row.reason, f"{row.created_at:%Y-%m-%d %H:%M}", last[:80])
    console = Console()
    console.print(table)
    console.print(f"{len(rows)} address(es)")


@suppressions_app.command("lift")
def lift(address: Annotated[str, typer.Argument(help="The address to email again.", metavar="ADDRESS")]) -> None:
    """Take an address off the do-not-email list; its bounces stay on record, and soft ones count afresh."""
    from sqlmodel import select

    from pledgeflow.core.db import session_for
    from pledgeflow.core.models import EmailBounce, EmailSuppression

    settings = settings_or_exit()
    with session_for(settings.database_url) as session:
        row = session.get(EmailSuppression, address.strip().lower())
        if row is None:
            typer.secho(f"{address} is not on the do-not-email list", fg="red", err=True)
            raise typer.Exit(1)
        session.delete(row)
        for bounce in session.exec(select(EmailBounce).where(EmailBounce.recipient == row.email)).all():
            bounce.kind = f"{bounce.kind}-lifted"[:16]  # lifted bounces no longer count toward a run
            session.add(bounce)
        session.commit()
    typer.echo(f"{row.email} lifted (was: {row.reason})")
