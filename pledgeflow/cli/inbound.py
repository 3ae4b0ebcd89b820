"""``pledgeflow inbound``: the SMTP receiver for replies and bounces, and ``check``, which reads mail without acting.

``pledgeflow inbound check FILE...`` answers an operator's "why did this reply not count?": for each raw
message (or each ``.eml`` file in a folder) it prints one JSON line, what the receiver would make of it
(docs/email.md §5), without keeping or signalling anything.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from pledgeflow.cli.startup import settings_or_exit

inbound_app = typer.Typer(
    help="Receive replies and bounces by email: an SMTP server for reply+TOKEN@ and bounce+ addresses.",
    invoke_without_command=True,
)


@inbound_app.callback()
def inbound(context: typer.Context) -> None:
    """Receive replies by email: an SMTP server for reply+TOKEN@ and bounce+ addresses (PLEDGEFLOW_INBOUND_*)."""
    if context.invoked_subcommand is not None:
        return
    from pledgeflow.inbound.receiver import serve

    settings = settings_or_exit()
    typer.echo(
        f"inbound SMTP on {settings.inbound_host}:{settings.inbound_port} for reply+TOKEN@{settings.inbound_domain}"
    )
    asyncio.run(serve(settings))


def _messages(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.eml")) if path.is_dir() else [path])
    return found


@inbound_app.command("check")
def check(
    files: Annotated[
        list[Path], typer.Argument(help="Raw messages (.eml), or folders of them.", exists=True, metavar="FILE...")
    ],
) -> None:
    """Print, for each message, one JSON line: {file, auto_reply, bounce, text}; nothing is kept or signalled.

    auto_reply is null for a person's message or says why a machine wrote it; bounce is null or
    {recipient, status, action}; text is what would be recorded as the report (null for machine mail).
    """
    from pledgeflow.inbound.reading import read

    for path in _messages(files):
        reading = read(path.read_bytes())
        line = {
            "file": str(path),
            "auto_reply": reading.auto_reply or (f"unreadable: {reading.unreadable}" if reading.unreadable else None),
            "bounce": reading.bounce.as_json() if reading.bounce else None,
            "text": None if reading.auto_reply or reading.unreadable else reading.text,
        }
        typer.echo(json.dumps(line, ensure_ascii=False))
