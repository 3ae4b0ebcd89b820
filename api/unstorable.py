"""A NUL character anywhere in a request's path or query string is refused before any route sees it: 404 for
a path (no resource has such a name), 422 for a query parameter. No value means it, and PostgreSQL cannot
hold it in text, so a route that passed it on to a query would fail with a 500; this answers for every
route, pages included. NUL in a body is each model's business (workflows.submission.unstorable)."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import send_problem


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if "\x00" in scope["path"]:
                await send_problem(send, 404, "there is nothing at this address")
                return
            query = scope.get("query_string", b"").decode("latin-1")
            if "\x00" in unquote(query):
                names = sorted(
                    {name for name, value in parse_qsl(query, keep_blank_values=True) if "\x00" in name + value}
                )
                message = "must not contain the NUL character (%00)"
                errors = [{"field": name.replace("\x00", "") or "query", "message": message} for name in names]
                await send_problem(send, 422, "; ".join(f"{e['field']}: {message}" for e in errors), errors=errors)
                return
        await self.app(scope, receive, send)
