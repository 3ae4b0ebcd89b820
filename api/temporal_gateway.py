"""One Temporal client for the app, connected lazily so the API starts (and answers 503) while Temporal is down."""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from api.problems import unavailable
from pledgeflow.settings import Settings
from pledgeflow.temporal import connect


class TemporalGateway:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(connect(self._settings), timeout=5)
                except (RuntimeError, OSError, TimeoutError) as exc:
                    raise unavailable("Temporal") from exc
        return self._client
