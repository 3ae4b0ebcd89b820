"""The chaos loop: the faults of a run, drawn from the seed, at times within the run's window.

- **Worker kills**, each timed at an email: the sink is armed, holds its answer to the next DATA, and the
  worker is SIGKILLed either while it waits for that 250 (the server has the message, the ledger does not
  know) or once the ledger says "sent" but before Temporal heard of the activity's completion (the worker's
  connection to Temporal runs through a relay, ``Proxy``, frozen for that moment); it is started again after
  a pause. An email activity lost with the worker is retried by Temporal once its start-to-close timeout has
  passed, so the retry meets a message the server already has: only the ledger's guard stops a second copy.
- **SMTP outage**: the port closed (connections refused), then MAIL FROM answered 421, then RCPT TO 451,
  then (when asked for) the DATA taken and never answered.
- **Database outage**, timed at an email too: the sink holds a 250 while the registry database stops taking
  connections (``ALLOW_CONNECTIONS false`` and every backend cut), so the ledger cannot be written after
  the server accepted the message; the database comes back after the outage.
- **API restarts**: ``pledgeflow api`` SIGKILLed while the driver's requests are in flight, started again.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

from tests.faults.stack import Stack

HELD_WAIT = 20.0  # how long a timed fault waits for an email to time itself on


@dataclass
class Faults:
    """What the chaos loop is asked to do; ``window`` is the span of the run the faults fall in."""

    window: float
    worker_kills: int
    smtp_outage: float  # seconds refused, then as long again answering 421 and then 451
    database_outage: float
    api_restarts: int
    smtp_hang: float = 0.0  # after the 421 and 451: seconds of taking the DATA and never answering


@dataclass
class Done:
    """What the chaos loop did, with times since the start of the run."""

    worker_kills: list[dict[str, float | str]] = field(default_factory=list)
    smtp: list[dict[str, float | str]] = field(default_factory=list)
    database: list[dict[str, float | str]] = field(default_factory=list)
    api_restarts: list[float] = field(default_factory=list)


class Chaos:
    def __init__(self, stack: Stack, faults: Faults, seed: int) -> None:
        self.stack = stack
        self.faults = faults
        self.rng = random.Random(seed * 7919 + 1)
        self.done = Done()
        self.started = time.monotonic()
        self._email_fault = asyncio.Lock()  # one timed fault holds the sink at a time

    def _now(self) -> float:
        return round(time.monotonic() - self.started, 2)

    async def run(self) -> None:
        window = self.faults.window
        # Kills alternate between the two moments, so even a run with two kills has one of each.
        jobs = [
            self._kill_worker(self.rng.uniform(5, window), before_answer=number % 2 == 0)
            for number in range(self.faults.worker_kills)
        ]
        jobs += [self._restart_api(self.rng.uniform(5, window)) for _ in range(self.faults.api_restarts)]
        if self.faults.smtp_outage:
            jobs.append(self._smtp_outage(self.rng.uniform(5, max(6.0, window - 2 * self.faults.smtp_outage))))
        if self.faults.database_outage:
            jobs.append(self._database_outage(self.rng.uniform(5, max(6.0, window - self.faults.database_outage))))
        await asyncio.gather(*jobs)

    async def _held_email(self) -> str:
        """Arm the sink and wait for the next DATA; its Message-ID, or "" if none came in time."""
        while not self.stack.held.empty():
            self.stack.held.get_nowait()
        await self.stack.smtp(arm=True)
        try:
            return await asyncio.wait_for(self.stack.held.get(), timeout=HELD_WAIT)
        except TimeoutError:
            return ""

    async def _kill_worker(self, at: float, before_answer: bool) -> None:
        await asyncio.sleep(at)
        worker = self.stack.parts["worker"]
        async with self._email_fault:
            message_id = await self._held_email()
            if before_answer:
                worker.kill()
                await self.stack.smtp(release=True)
                when = "waiting for the 250"
            else:
                when = await self._kill_after_ledger(message_id)
            self.done.worker_kills.append({"at": self._now(), "when": when, "email": message_id})
        await asyncio.sleep(self.rng.uniform(1.0, 5.0))
        worker.start()

    async def _kill_after_ledger(self, message_id: str) -> str:
        """Freeze the worker's line to Temporal, let the 250 through, wait for the ledger to say "sent", kill:
        the send is done and recorded, but Temporal never hears of it and retries the activity later."""
        assert self.stack.proxy is not None
        self.stack.proxy.pause()
        await self.stack.smtp(release=True)
        deadline = time.monotonic() + 10.0
        state = None
        while message_id and time.monotonic() < deadline:
            state = await asyncio.to_thread(self.stack.ledger_state, message_id)
            if state == "sent":
                break
            await asyncio.sleep(0.05)
        self.stack.parts["worker"].kill()
        self.stack.proxy.cut_and_resume()
        return f"after the 250, ledger {state}, before Temporal heard"

    async def _restart_api(self, at: float) -> None:
        await asyncio.sleep(at)
        api = self.stack.parts["api"]
        api.kill()
        self.done.api_restarts.append(self._now())
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        api.start()
        await self.stack.wait_for_api()

    async def _smtp_outage(self, at: float) -> None:
        await asyncio.sleep(at)
        outage = self.faults.smtp_outage
        phases = [("down", outage), ("421", outage / 2), ("451", outage / 2), ("hang", self.faults.smtp_hang)]
        for mode, seconds in [(mode, seconds) for mode, seconds in phases if seconds]:
            await self.stack.smtp(mode=mode)
            self.done.smtp.append({"at": self._now(), "mode": mode, "seconds": seconds})
            await asyncio.sleep(seconds)
        await self.stack.smtp(mode="up")

    async def _database_outage(self, at: float) -> None:
        await asyncio.sleep(at)
        async with self._email_fault:  # held throughout: a kill timed on the ledger needs the database
            message_id = await self._held_email()
            await asyncio.to_thread(self.stack.database_down)
            await self.stack.smtp(release=True)
            self.done.database.append({"at": self._now(), "seconds": self.faults.database_outage, "email": message_id})
            await asyncio.sleep(self.faults.database_outage)
            await asyncio.to_thread(self.stack.database_up)
