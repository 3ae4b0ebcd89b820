"""Headers on every response (issue 13): nosniff everywhere, no-store on whatever holds contacts or tokens,
HSTS when served over https, and the API documentation served from the installed package (no CDN)."""

from __future__ import annotations

import re

import httpx

from api.app import create_app
from pledgeflow.auth.staff_keys import Role
from tests.api.conftest import bearer, submit
from tests.conftest import Stack

PUBLIC = [
    "/api/v1/registry/pledges",
    "/api/v1/registry/export.csv",
    "/api/v1/registry/export.json",
    "/api/v1/registry/feed.atom",
    "/api/v1/registry/stats",
    "/registry",
    "/",
    "/static/pledgeflow.css",
    "/docs",
    "/openapi.json",
    "/healthz",
]


async def test_every_response_says_nosniff_and_only_the_public_registry_may_be_cached(
    stack: Stack, staff_keys: dict[Role, str]
) -> None:
    pledge = await submit(stack.http)
    private = {
        "owner's JSON (contacts)": await stack.http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth),
        "staff's JSON": await stack.http.get(f"/api/v1/pledges/{pledge.id}", headers=bearer(staff_keys[Role.admin])),
        "submission answer (manage token)": await stack.http.post("/api/v1/pledges", json={}),
        "manage page (token, contacts)": await stack.http.get(f"/pledges/{pledge.id}", params={"token": pledge.token}),
        "review queue": await stack.http.get("/api/v1/review/queue", headers=bearer(staff_keys[Role.vetter])),
        "staff login": await stack.http.get("/staff/login"),
        "an error": await stack.http.get("/api/v1/pledges/PF-0000000"),
    }
    for what, response in private.items():
        assert response.headers["Cache-Control"] == "no-store", what
        assert response.headers["X-Content-Type-Options"] == "nosniff", what
    for path in PUBLIC:
        response = await stack.http.get(path)
        assert response.status_code == 200, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path
        assert "no-store" not in response.headers.get("Cache-Control", ""), path
        assert "Strict-Transport-Security" not in response.headers, "plain http: no HSTS"


async def test_hsts_on_every_response_when_served_over_https(stack: Stack) -> None:
    https = stack.settings.model_copy(update={"public_base_url": "https://pledges.example.org"})
    transport = httpx.ASGITransport(app=create_app(https, stack.client))
    async with httpx.AsyncClient(transport=transport, base_url="https://pledges.example.org") as http:
        for path in ("/api/v1/registry/pledges", "/registry", "/api/v1/pledges/PF-0000000", "/nowhere"):
            assert (await http.get(path)).headers["Strict-Transport-Security"] == "max-age=31536000", path


async def test_swagger_ui_and_redoc_load_only_assets_this_app_serves(stack: Stack) -> None:
    for page in ("/docs", "/redoc"):
        html = (await stack.http.get(page)).text
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
        assert assets, page
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            assert (await stack.http.get(asset)).status_code == 200, asset
