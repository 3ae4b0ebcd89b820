"""What every ``pledgeflow`` command does first: read the settings, or stop with one line naming the bad one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from pledgeflow.core.settings import Settings


def settings_or_exit(**overrides: object) -> Settings:
    """A bad PLEDGEFLOW_* value stops the command at once, with exit status 2 and one line naming it."""
    from pledgeflow.core.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        typer.secho(" ".join(line.strip() for line in str(exc).splitlines()), fg="red", err=True)
        raise typer.Exit(2) from None
