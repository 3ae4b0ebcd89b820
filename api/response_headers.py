"""Headers on every response, whatever answered it (a route, a page, a static file, an error handler):

- ``X-Content-Type-Options: nosniff``: a CSV export or an Atom feed is never read by a browser as HTML;
- ``Cache-Control: no-store`` on everything that is not the public registry (API, pages, static assets,
  documentation, health): the pledger's and the staff's answers hold contacts, tokens or both, and no
  browser, proxy or shared cache may keep them;
- ``Strict-Transport-Security`` when the service is served over https (``PLEDGEFLOW_PUBLIC_BASE_URL``);
- on the documentation pages (Swagger UI, ReDoc) a Content-Security-Policy that lets them load nothing from
  anywhere else (ReDoc's footer would fetch its logo from a CDN).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"
# Route paths (templates) that only ever answer what the public registry publishes.
PUBLIC_EXACT = frozenset({"/", "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})
PUBLIC_PREFIXES = ("/api/v1/registry", "/registry", "/static")


DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PAGES = frozenset({"/docs", "/redoc"})


def is_public(route_path: str) -> bool:
    return route_path in PUBLIC_EXACT or route_path.startswith(PUBLIC_PREFIXES)


class ResponseHeaders:
    def __init__(self, app: ASGIApp, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                route = scope.get("route")
                path = getattr(route, "path", None) or scope["path"]
                if not is_public(path) and "cache-control" not in headers:
                    headers["Cache-Control"] = "no-store"
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if path in DOCS_PAGES:
                    headers.setdefault("Content-Security-Policy", DOCS_CSP)
            await send(message)

        await self.app(scope, receive, with_headers)
