"""The dev SMTP sink: accepts every message and keeps it as an ``.eml`` file under ``<home>/mail/``.

Files, not memory, so the mailbox survives a restart of ``pledgeflow dev`` the way the pledges do, and
``/dev/mail`` (another process or a later run) reads the same messages. File names start with the
receive time in nanoseconds, so sorting names sorts messages by arrival.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

from pledgeflow.core.settings import Settings

_sequence = itertools.count()


def mail_dir(settings: Settings) -> Path:
    return settings.home / "mail"


def store(directory: Path, raw: bytes) -> Path:
    """Write one message atomically: a reader never sees half a file."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}-{next(_sequence):06d}"
    partial = directory / f".{name}.part"
    partial.write_bytes(raw)
    final = directory / f"{name}.eml"
    partial.replace(final)
    return final


class MailboxHandler:
    """aiosmtpd handler: every accepted message becomes a file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        await asyncio.to_thread(store, self.directory, raw)
        return "250 Message accepted for delivery"


async def start(settings: Settings) -> asyncio.Server:
    """Listen on ``smtp_host:smtp_port``; the caller closes the returned server to stop."""
    handler = MailboxHandler(mail_dir(settings))
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="pledgeflow-dev-sink", enable_SMTPUTF8=True),
        host=settings.smtp_host,
        port=settings.smtp_port,
    )
