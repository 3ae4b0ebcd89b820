"""The pages under test: the real app served by uvicorn on a free port, workers on the session's Temporal
dev server, PostgreSQL, an SMTP sink, and (for the browser tests) one headless Chromium for the session.

The policy gives a five-second reporting year, so a pledge approved in a test reaches ``report_due`` and
gets its report request email within seconds; every other step keeps the default's days. The app and its
workers live for one test module: once they stop, the module's published pledges stop cycling and no
longer load the machine while the rest of the suite runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from playwright.async_api import Browser, BrowserContext, Dialog, Page, async_playwright
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from pledgeflow.auth.staff_keys import Role, add_staff
from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge
from pledgeflow.core.settings import Settings
from tests.api.registry_seeding import _postgres_template
from tests.conftest import SmtpSink, free_port, make_settings, run_workers, scratch_postgres
from tests.factories import report_data, submission_data

QUICK_YEAR_POLICY = 'reporting_interval = "5s"\nearly_report_window = "1s"\n'
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REPORT_LINK = re.compile(r"https?://\S+/pledges/(PF-\w+)/report\?token=[\w.\-]+")


@dataclass
class Site:
    """The running app: its URL, settings, SMTP sink and one key per staff role."""

    url: str
    settings: Settings
    smtp: SmtpSink
    staff: dict[Role, str]

    def client(self) -> httpx.AsyncClient:
        """A fresh browser-like client: its own cookie jar, not following redirects (tests check them)."""
        return httpx.AsyncClient(base_url=self.url, timeout=30)


@pytest.fixture(scope="module")
def pages_smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture(scope="module")
async def site(
    dev_env: WorkflowEnvironment, pages_smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    """The app and workers over a registry of this module's own: the session's shared database fills with
    other modules' pledges in review (imported ones waiting for weeks), which the queue lists first."""
    with scratch_postgres("pledgeflow_pages", template=_postgres_template()) as postgres_url:
        async with _serving(dev_env, postgres_url, pages_smtp, tmp_path_factory) as site:
            yield site


@contextlib.asynccontextmanager
async def _serving(
    dev_env: WorkflowEnvironment, postgres_url: str, pages_smtp: SmtpSink, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Site]:
    home = tmp_path_factory.mktemp("pages")
    policy_file = home / "quick-year.toml"
    policy_file.write_text(QUICK_YEAR_POLICY)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = make_settings(home, postgres_url, pages_smtp, policy_file=policy_file, public_base_url=url)
    suffix = uuid.uuid4().hex[:6]
    with session_for(postgres_url) as session:
        staff = {role: add_staff(session, f"{role.value}-pages-{suffix}", role) for role in Role}
    async with run_workers(dev_env.client, settings):
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings, dev_env.client), host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        async with asyncio.timeout(20):
            while not server.started:
                await asyncio.sleep(0.02)
        yield Site(url=url, settings=settings, smtp=pages_smtp, staff=staff)
        server.should_exit = True
        await serving


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


# --- Pledges moved along through the JSON API (the pages' own flows are what the tests exercise) -------


@dataclass
class Made:
    id: str
    manage_token: str


async def api_submit(site: Site, **overrides: Any) -> Made:
    async with site.client() as http:
        response = await http.post("/api/v1/pledges", json=submission_data(**overrides))
    assert response.status_code == 202, response.text
    return Made(id=response.json()["id"], manage_token=response.json()["manage_token"])


async def api_approve(site: Site, pledge: Made) -> None:
    async with site.client() as http:
        response = await http.post(
            f"/api/v1/pledges/{pledge.id}/decisions",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {site.staff[Role.admin]}"},
        )
    assert response.status_code == 201, response.text


async def api_request_changes(site: Site, pledge: Made, note: str) -> None:
    async with site.client() as http:
        response = await http.post(
            f"/api/v1/pledges/{pledge.id}/decisions",
            json={"decision": "request_changes", "note": note},
            headers={"Authorization": f"Bearer {site.staff[Role.admin]}"},
        )
    assert response.status_code == 201, response.text
    await registry_row(site, pledge.id, status="changes_requested")


async def api_report(site: Site, pledge: Made, **overrides: Any) -> None:
    async with site.client() as http:
        response = await http.post(
            f"/api/v1/pledges/{pledge.id}/reports",
            json=report_data(**overrides),
            headers={"Authorization": f"Bearer {pledge.manage_token}"},
        )
    assert response.status_code == 201, response.text


async def registry_row(site: Site, pledge_id: str, timeout: float = 20, **expected: Any) -> Pledge:
    """The pledge's registry row once the workflow has projected it with these column values."""
    async with asyncio.timeout(timeout):
        while True:
            with session_for(site.settings.database_url) as session:
                row = session.exec(select(Pledge).where(Pledge.id == pledge_id)).first()
            if row is not None and all(getattr(row, key) == value for key, value in expected.items()):
                return row
            await asyncio.sleep(0.1)


async def published(site: Site, **overrides: Any) -> Made:
    """A pledge submitted and approved, visible in the registry."""
    pledge = await api_submit(site, **overrides)
    await registry_row(site, pledge.id, status="in_review")
    await api_approve(site, pledge)
    await registry_row(site, pledge.id, status="published")
    return pledge


async def report_link(site: Site, pledge_id: str, timeout: float = 30) -> str:
    """The report form link from the newest report request emailed for this pledge."""
    async with asyncio.timeout(timeout):
        while True:
            for message in reversed(site.smtp.messages):
                link = _report_link_in(message, pledge_id)
                if link:
                    return link
            await asyncio.sleep(0.1)


def _report_link_in(message: EmailMessage, pledge_id: str) -> str | None:
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    for match in REPORT_LINK.finditer(str(text)):
        if match.group(1) == pledge_id:
            return match.group(0)
    return None


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def screenshot_dir() -> Path | None:
    """Set by docs/make_page_screenshots.py: where the browser tests also save pictures of each page."""
    value = os.environ.get("PLEDGEFLOW_PAGE_SCREENSHOTS")
    return Path(value) if value else None


async def snap(page: Page, name: str) -> None:
    directory = screenshot_dir()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(directory / f"pages-{name}.png"), full_page=True)


@pytest.fixture
async def context(browser: Browser, site: Site) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile per test (own cookies), on the one browser of the session."""
    browser_context = await browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    yield browser_context
    await browser_context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A tab that fails the test if any dialog (an injected ``alert``) opens."""
    tab = await context.new_page()
    dialogs: list[str] = []

    async def refuse(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    tab.on("dialog", refuse)
    yield tab
    assert dialogs == [], f"a script ran in the page: {dialogs}"


def messages_for(site: Site, pledge_id: str, kind: str) -> list[EmailMessage]:
    return [
        message
        for message in site.smtp.messages
        if message["X-Pledgeflow-Pledge"] == pledge_id and message["X-Pledgeflow-Kind"] == kind
    ]


async def emailed(site: Site, pledge_id: str, kind: str, timeout: float = 30) -> EmailMessage:
    """The newest message of ``kind`` for the pledge, once it has arrived at the SMTP sink."""
    async with asyncio.timeout(timeout):
        while not (found := messages_for(site, pledge_id, kind)):
            await asyncio.sleep(0.1)
    return found[-1]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def link_in(message: EmailMessage, path_pattern: str) -> str:
    """The first link of the text part whose path matches ``path_pattern`` (a regular expression)."""
    found = re.search(rf"https?://\S+{path_pattern}\S*", text_of(message))
    assert found, f"no link like {path_pattern} in {message['Subject']}"
    return found.group(0)
