"""Guessing staff keys is rate-limited: a client whose staff keys were refused (401) too often in the window
(``PLEDGEFLOW_RATE_LIMIT_BAD_STAFF_KEYS``) gets 429 with ``Retry-After`` for any request with a staff key,
before the key is even checked. Keys that work never count."""

from __future__ import annotations

import asyncio
from contextlib import suppress

from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import send_problem
from pledgeflow.auth.rate_limits import RateLimited, RateLimits
from pledgeflow.auth.staff_keys import KEY_PREFIX

LIMIT = "bad staff keys per address"


class StaffKeyGuard:
    def __init__(self, app: ASGIApp, limits: RateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _carries_staff_key(scope):
            await self.app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else "unknown"
        try:
            await asyncio.to_thread(self.limits.check, LIMIT, client)
        except RateLimited as exc:
            await send_problem(send, 429, exc.what, {"Retry-After": str(exc.retry_after)})
            return
        except SQLAlchemyError:
            pass  # the route's own database access answers 503
        refused = False

        async def watching(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                refused = message["status"] == 401
            await send(message)

        await self.app(scope, receive, watching)
        if refused:
            # Counted (or not countable now): the next request is refused, or not, by the count.
            with suppress(RateLimited, SQLAlchemyError):
                await asyncio.to_thread(self.limits.hit, LIMIT, client)


def _carries_staff_key(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            credentials: str = value.decode("latin-1").partition(" ")[2]
            return credentials.strip().startswith(KEY_PREFIX)
    return False
