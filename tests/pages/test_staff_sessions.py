"""Staff sessions that end (issue 13): server-side, rotated at login, ended by logout, an idle timeout, an
absolute lifetime and deactivation; the staff forms' CSRF tokens bound to the session, not to a cookie a
sibling domain could plant."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlmodel import col, select

from pledgeflow.auth.staff_keys import Role, add_staff, deactivate
from pledgeflow.core.db import session_for
from pledgeflow.core.models import StaffSession
from tests.pages.conftest import Site, api_submit, csrf_of, registry_row
from tests.pages.test_staff_pages import sign_in


def _cookie(response: httpx.Response) -> str:
    return response.headers["set-cookie"].split(";", 1)[0].split("=", 1)[1]


async def _queue_with(site: Site, session_id: str) -> httpx.Response:
    async with site.client() as http:
        http.cookies.set("pf_staff", session_id)
        return await http.get("/staff/queue")


def _age_sessions(site: Site, **moved: dt.timedelta) -> None:
    """Move every open session's clock back, as if that much time had passed."""
    with session_for(site.settings.database_url) as db:
        for row in db.exec(select(StaffSession).where(col(StaffSession.ended_at).is_(None))).all():
            for column, delta in moved.items():
                setattr(row, column, getattr(row, column) - delta)
            db.add(row)
        db.commit()


async def test_logout_ends_the_session_on_the_server_so_a_copied_cookie_opens_nothing(site: Site) -> None:
    async with site.client() as http:
        signed_in = await sign_in(http, site.staff[Role.vetter])
        stolen = _cookie(signed_in)
        queue = await http.get("/staff/queue")
        await http.post("/staff/logout", data={"csrf_token": csrf_of(queue.text)})
    after = await _queue_with(site, stolen)
    assert after.status_code == 303 and after.headers["location"] == "/staff/login"


async def test_every_login_is_a_new_session_and_ends_the_one_the_browser_had(site: Site) -> None:
    async with site.client() as http:
        first = _cookie(await sign_in(http, site.staff[Role.vetter]))
        second = _cookie(await sign_in(http, site.staff[Role.vetter]))
    assert first != second
    assert (await _queue_with(site, first)).status_code == 303
    assert (await _queue_with(site, second)).status_code == 200


async def test_a_session_ends_when_idle_and_at_its_absolute_lifetime(site: Site) -> None:
    async with site.client() as http:
        idle = _cookie(await sign_in(http, site.staff[Role.vetter]))
    minutes = dt.timedelta(minutes=site.settings.staff_session_idle_minutes)
    _age_sessions(site, last_seen_at=minutes + dt.timedelta(seconds=5))
    assert (await _queue_with(site, idle)).status_code == 303

    async with site.client() as http:
        busy = _cookie(await sign_in(http, site.staff[Role.vetter]))
    _age_sessions(site, created_at=dt.timedelta(hours=site.settings.staff_session_hours, seconds=5))
    assert (await _queue_with(site, busy)).status_code == 303  # used a moment ago, but too old


async def test_deactivating_the_account_ends_its_sessions(site: Site) -> None:
    with session_for(site.settings.database_url) as db:
        key = add_staff(db, "leaving-vetter", Role.vetter)
    async with site.client() as http:
        session_id = _cookie(await sign_in(http, key))
    assert (await _queue_with(site, session_id)).status_code == 200
    with session_for(site.settings.database_url) as db:
        deactivate(db, "leaving-vetter")
    assert (await _queue_with(site, session_id)).status_code == 303


async def test_a_planted_csrf_cookie_and_its_token_do_not_pass_a_staff_form(site: Site) -> None:
    pledge = await api_submit(site)
    await registry_row(site, pledge.id, status="in_review")
    async with site.client() as attacker, site.client() as victim:
        # The attacker gets a CSRF cookie and a valid token for it from the site itself...
        page = await attacker.get("/submit")
        planted, token = page.cookies["pf_csrf"], csrf_of(page.text)
        await sign_in(victim, site.staff[Role.admin])
        # ...and plants the cookie in the signed-in victim's browser (e.g. from a sibling domain).
        victim.cookies.set("pf_csrf", planted)
        forged = await victim.post(
            f"/staff/pledges/{pledge.id}/decision",
            data={"csrf_token": token, "decision": "reject", "note": "Forged rejection."},
        )
    assert forged.status_code == 403, forged.text
    assert (await registry_row(site, pledge.id)).status == "in_review"
