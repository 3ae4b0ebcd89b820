"""The API documentation works offline (issue 13): Swagger UI and ReDoc render in Chromium with every request
to anywhere but this app refused, since their scripts and styles come from the installed fastapi-offline
package instead of a CDN; their Content-Security-Policy keeps the browser from even trying elsewhere."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Route, expect

from tests.pages.conftest import Site

pytestmark = pytest.mark.browser


@pytest.mark.parametrize(("page_path", "shown"), [("/docs", ".swagger-ui .info .title"), ("/redoc", ".redoc-wrap h1")])
async def test_the_docs_render_with_nothing_but_this_app_reachable(
    browser: Browser, site: Site, page_path: str, shown: str
) -> None:
    context = await browser.new_context(base_url=site.url)
    elsewhere: list[str] = []

    async def only_this_app(route: Route) -> None:
        if route.request.url.startswith(site.url):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_this_app)
    page = await context.new_page()
    await page.goto(page_path)
    await expect(page.locator(shown).first).to_contain_text("Pledgeflow", timeout=30_000)
    await context.close()
    assert elsewhere == []
