"""``pledgeflow staff``: staff accounts, as an administrator with the database's credentials manages them.

Keys are printed once and stored only as a salted hash. Deactivating an account or rotating its key ends
its browser sessions at once, and the old key is refused everywhere (API and pages) from then on.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pledgeflow.auth.roles import Role
from pledgeflow.cli.startup import settings_or_exit

# The key machinery and the database load when a command runs, so ``pledgeflow --help`` stays light.

staff_app = typer.Typer(help="Staff accounts (vetters, operators, admins).", no_args_is_help=True)
NAME = Annotated[str, typer.Argument(help="The staff member's name, unique.", metavar="NAME")]


def _database_url() -> str:
    from pledgeflow.core import db

    settings = settings_or_exit()
    db.upgrade(settings.database_url)
    return settings.database_url


def _refused(error: Exception) -> typer.Exit:
    typer.secho(str(error).strip("'\""), fg="red", err=True)
    return typer.Exit(1)


@staff_app.command("add")
def staff_add(
    name: NAME,
    role: Annotated[Role, typer.Option(help="What the key may do.")] = Role.vetter,
) -> None:
    """Create a staff account and print its key once; only a hash of it is stored."""
    from pledgeflow.auth.staff_keys import StaffExists, add_staff
    from pledgeflow.core import db

    with db.session_for(_database_url()) as session:
        try:
            key = add_staff(session, name, role)
        except StaffExists as exc:
            raise _refused(exc) from None
    typer.echo(key)


@staff_app.command("list")
def staff_list() -> None:
    """Every staff account: role, whether its key works, the key's public prefix, since when."""
    from rich.console import Console
    from rich.table import Table

    from pledgeflow.auth.staff_keys import KEY_PREFIX, list_staff
    from pledgeflow.core import db

    with db.session_for(_database_url()) as session:
        accounts = list_staff(session)
    table = Table("name", "role", "active", "key", "created")
    for account in accounts:
        table.add_row(
            account.name,
            account.role,
            "yes" if account.active else "no",
            f"{KEY_PREFIX}{account.key_prefix}_…",
            f"{account.created_at:%Y-%m-%d}",
        )
    Console(width=200).print(table)


@staff_app.command("deactivate")
def staff_deactivate(name: NAME) -> None:
    """Refuse the account's key from now on and end its open browser sessions."""
    from pledgeflow.auth.staff_keys import NoSuchStaff, deactivate
    from pledgeflow.core import db

    with db.session_for(_database_url()) as session:
        try:
            ended = deactivate(session, name)
        except NoSuchStaff as exc:
            raise _refused(exc) from None
    typer.echo(f"{name} deactivated; {ended} open session(s) ended")


@staff_app.command("rotate-key")
def staff_rotate_key(name: NAME) -> None:
    """Give the account a new key, printed once; the old key and its sessions stop working at once."""
    from pledgeflow.auth.staff_keys import NoSuchStaff, rotate_key
    from pledgeflow.core import db

    with db.session_for(_database_url()) as session:
        try:
            key = rotate_key(session, name)
        except NoSuchStaff as exc:
            raise _refused(exc) from None
    typer.echo(key)
