"""The fault suite's SMTP server: a process of its own that records every message it was given, and that the
chaos loop steers over a control socket.

``python -m tests.faults.sink --port P --control C --record FILE`` listens for SMTP on P and for JSON lines on
C. A message counts as delivered the moment its DATA has arrived, before any answer: a client that dies
waiting for the 250 has still delivered it, which is what a real server would do, so a resend shows here as
a second copy. Every delivered message is one JSON line in FILE (flushed at once, so a reader sees it).

Control commands (one JSON object a line, each answered with ``{"ok": true}``):

- ``{"mode": "up" | "down" | "421" | "451" | "hang"}``: accept; refuse connections (the port closed);
  answer MAIL FROM with 421; answer RCPT TO with 451; take the DATA and then never answer.
- ``{"arm": true}``: hold the answer to the next DATA and report ``{"held": MESSAGE_ID}`` on this
  connection; ``{"release": true}`` sends the held 250 (if the client is still there).
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import time
from pathlib import Path
from typing import IO, Any

from aiosmtpd.smtp import SMTP

MODES = {"up", "down", "421", "451", "hang"}


class FaultySink:
    def __init__(self, record: IO[str]) -> None:
        self.record = record
        self.mode = "up"
        self.armed: asyncio.Queue[str] | None = None  # where to report the next DATA, while armed
        self.release = asyncio.Event()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.mode == "421":
            return "421 4.3.2 Service not available, closing transmission channel"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if self.mode == "451":
            return "451 4.3.0 Requested action aborted: local error in processing"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        line = {
            "at": time.time(),
            "message_id": str(message["Message-ID"]),
            "pledge": str(message["X-Pledgeflow-Pledge"] or ""),
            "kind": str(message["X-Pledgeflow-Kind"] or ""),
            "to": [address.lower() for address in envelope.rcpt_tos],
            "raw": raw.decode("utf-8", errors="replace"),
        }
        self.record.write(json.dumps(line) + "\n")
        self.record.flush()
        if self.mode == "hang":
            await asyncio.sleep(3600)
        if self.armed is not None:
            report, self.armed = self.armed, None
            self.release.clear()
            await report.put(line["message_id"])
            await self.release.wait()
        return "250 2.0.0 Message accepted for delivery"


class Listener:
    """The SMTP port, closed while the mode is "down" so connections are refused, as from a dead server."""

    def __init__(self, sink: FaultySink, port: int) -> None:
        self.sink = sink
        self.port = port
        self.server: asyncio.Server | None = None

    async def open(self) -> None:
        if self.server is None:
            loop = asyncio.get_running_loop()
            self.server = await loop.create_server(
                lambda: SMTP(self.sink, hostname="faults-sink", enable_SMTPUTF8=True),
                host="127.0.0.1",
                port=self.port,
                reuse_address=True,
            )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


async def control(listener: Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sink = listener.sink
    reports: asyncio.Queue[str] = asyncio.Queue()

    async def forward() -> None:
        while True:
            held = await reports.get()
            writer.write((json.dumps({"held": held}) + "\n").encode())
            await writer.drain()

    forwarding = asyncio.create_task(forward())
    try:
        while line := await reader.readline():
            command = json.loads(line)
            if "mode" in command:
                if command["mode"] not in MODES:
                    raise ValueError(f"unknown mode {command['mode']!r}; one of {sorted(MODES)}")
                sink.mode = command["mode"]
                await (listener.close() if sink.mode == "down" else listener.open())
            if command.get("arm"):
                sink.armed = reports
            if command.get("release"):
                sink.release.set()
            writer.write(b'{"ok": true}\n')
            await writer.drain()
    finally:
        forwarding.cancel()
        sink.release.set()
        writer.close()


async def serve(port: int, control_port: int, record: Path) -> None:
    with record.open("a", encoding="utf-8") as out:
        listener = Listener(FaultySink(out), port)
        await listener.open()
        server = await asyncio.start_server(
            lambda r, w: control(listener, r, w), host="127.0.0.1", port=control_port, reuse_address=True
        )
        async with server:
            await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--record", type=Path, required=True)
    arguments = parser.parse_args()
    asyncio.run(serve(arguments.port, arguments.control, arguments.record))


if __name__ == "__main__":
    main()
