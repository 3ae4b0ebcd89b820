"""A request body larger than the API accepts is 413, before it is read into memory or reaches a workflow.

The limit is ``PLEDGEFLOW_MAX_REQUEST_BYTES`` (256 KiB: a pledge with every list at its bound is a few tens
of kilobytes); the inbound webhook, which takes whole emails, has the inbound receiver's own limit. A
declared Content-Length over the limit is refused at once; a chunked body is counted as it arrives, and
refused as soon as it passes the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import send_problem


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int, by_path: Mapping[str, int]) -> None:
        self.app = app
        self.default = default
        self.by_path = dict(by_path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.by_path.get(scope["path"], self.default)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        # Read the body up to the limit before the app sees it (so at most ``limit`` bytes are ever held),
        # then hand it on as one message.
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > limit:
                await _refuse(send, limit)
                return
            if not message.get("more_body", False):
                break
        await self.app(
            scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive), send
        )


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()  # after the body: a disconnect, when the client goes away
        return {"type": "http.disconnect"}

    return receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(send: Send, limit: int) -> None:
    await send_problem(send, 413, f"the request body is larger than the {limit:,} bytes this endpoint accepts")
