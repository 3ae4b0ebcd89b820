"""Every form POST needs this browser's CSRF token: without it, or with another browser's, a 403 page."""

from __future__ import annotations

import pytest

from pledgeflow.auth.staff_keys import Role
from tests.pages.conftest import Site, api_submit, csrf_of, registry_row

# Every POST the pages accept (pledge ids filled in per test).
POSTS = [
    "/submit",
    "/pledges/{id}/extension-request",
    "/pledges/{id}/withdraw",
    "/pledges/{id}/report",
    "/staff/login",
    "/staff/logout",
    "/staff/pledges/{id}/decision",
]


@pytest.mark.parametrize("path", POSTS)
async def test_post_without_or_with_a_foreign_csrf_token_is_refused(site: Site, path: str) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    url = path.format(id=pledge.id)
    acting = {
        "token": pledge.manage_token,
        "key": site.staff[Role.admin],
        "decision": "reject",
        "note": "Forged rejection.",
        "reason": "Forged: withdraw this pledge now.",
    }
    async with site.client() as victim, site.client() as attacker:
        # The victim is signed in as staff (and has a CSRF cookie); the attacker has a token of their own.
        login_token = csrf_of((await victim.get("/staff/login")).text)
        signed_in = await victim.post("/staff/login", data={"csrf_token": login_token, "key": site.staff[Role.admin]})
        assert signed_in.status_code == 303
        attackers_token = csrf_of((await attacker.get("/submit")).text)
        missing = await victim.post(url, data=acting)
        foreign = await victim.post(url, data=acting | {"csrf_token": attackers_token})
        garbled = await victim.post(url, data=acting | {"csrf_token": "x" + attackers_token})
    for response in (missing, foreign, garbled):
        assert response.status_code == 403, response.text
        assert "did not carry this site's security token" in response.text.replace("&#39;", "'")
    row = await registry_row(site, pledge.id)
    assert row.status == "in_review"  # nothing acted


async def test_csrf_cookie_is_httponly_and_samesite(site: Site) -> None:
    async with site.client() as http:
        response = await http.get("/submit")
        again = await http.get("/registry")
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith("pf_csrf=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # served over plain http here
    assert "set-cookie" not in again.headers  # one secret per browser, kept
