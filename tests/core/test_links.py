"""Every link an email hands out leads to a page or endpoint the app actually serves."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.routing import Match

from activities.email_render import EmailRenderer
from api.app import create_app
from pledgeflow.core.settings import Settings
from tests.activities.test_email_templates import request_for
from workflows.emails import EmailKind

BASE = "https://pledges.example.org"
URL = re.compile(r"https?://\S+")


@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_link_in_every_email_resolves_to_a_route(kind: EmailKind, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, secret_key="links-secret", public_base_url=BASE, database_url="sqlite://")
    message = EmailRenderer(settings).render(request_for(kind))
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    links = [url.rstrip(".,)") for url in URL.findall(text) if url.startswith(BASE)]
    assert links, f"{kind.value} email gives the reader no link"

    routes = create_app(settings).router.routes
    for link in links:
        scope = {"type": "http", "method": "GET", "path": urlsplit(link).path, "root_path": ""}
        assert any(route.matches(scope)[0] == Match.FULL for route in routes), f"{kind.value}: no page at {link}"
