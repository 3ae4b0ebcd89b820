"""The staff's browser session: a server-side session (pledgeflow.auth.staff_sessions) named by a cookie.

The cookie holds only a random id: HttpOnly (no script reads it), SameSite=Lax (not sent on other sites'
form posts), Path=/; over https it is Secure and named ``__Host-pf_staff``, which a sibling domain cannot
set (no cookie tossing). Every login opens a new session (and ends the one the browser had); logout ends
it on the server, so the old cookie opens nothing; so do an idle timeout, an absolute lifetime, and a
deactivated account or rotated key. The staff forms' CSRF tokens are bound to the session.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlmodel import Session

from api.deps import SessionDep, registry_reachable
from api.pages.rendering import settings_of
from api.pages.routing import LoginRequired
from api.problems import ProblemError
from pledgeflow.auth import staff_sessions
from pledgeflow.auth.staff_keys import Role
from pledgeflow.auth.staff_sessions import Lifetime, LiveSession
from pledgeflow.core.models import StaffAccount
from pledgeflow.core.settings import Settings


def cookie_name(settings: Settings) -> str:
    return "__Host-pf_staff" if settings.https else "pf_staff"


def lifetime(settings: Settings) -> Lifetime:
    return Lifetime(
        idle=dt.timedelta(minutes=settings.staff_session_idle_minutes),
        absolute=dt.timedelta(hours=settings.staff_session_hours),
    )


def start(request: Request, response: Response, db: Session, account: StaffAccount) -> None:
    """Log ``account`` in: a fresh session id, never the one the browser came with."""
    settings = settings_of(request)
    with registry_reachable():
        if old := request.cookies.get(cookie_name(settings)):
            staff_sessions.end(db, old)
        session_id, _ = staff_sessions.open_session(db, account)
    response.set_cookie(
        cookie_name(settings),
        session_id,
        max_age=settings.staff_session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.https,
        path="/",
    )


def end(request: Request, response: Response, db: Session) -> None:
    settings = settings_of(request)
    if session_id := request.cookies.get(cookie_name(settings)):
        with registry_reachable():
            staff_sessions.end(db, session_id)
    response.delete_cookie(cookie_name(settings), path="/", httponly=True, samesite="lax", secure=settings.https)


def live_session(request: Request, db: Session) -> LiveSession | None:
    """This browser's live staff session, if any (kept on the request for the CSRF check and the page)."""
    known: LiveSession | None = getattr(request.state, "staff_session", None)
    if known is not None:
        return known
    settings = settings_of(request)
    session_id = request.cookies.get(cookie_name(settings))
    if not session_id:
        return None
    with registry_reachable():
        live = staff_sessions.live_session(db, session_id, lifetime(settings))
    if live is not None:
        request.state.staff_session = live
        request.state.staff = live.account
    return live


def current_staff(request: Request, session: SessionDep) -> StaffAccount:
    """The logged-in staff member; without a live session the browser is sent to the login page."""
    live = live_session(request, session)
    if live is None:
        raise LoginRequired
    return live.account


StaffSession = Annotated[StaffAccount, Depends(current_staff)]


def can_decide(account: StaffAccount) -> bool:
    return account.role in {Role.vetter.value, Role.admin.value}


def require_vetter(account: StaffAccount) -> None:
    """Vetters decide (and admins), as in the API: an operator's session gets a 403 page."""
    if not can_decide(account):
        raise ProblemError(403, f"reviewing pledges needs the role vetter or admin; {account.name} is {account.role}")
