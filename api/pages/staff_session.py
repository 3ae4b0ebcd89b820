"""The staff's browser session: a signed, expiring cookie naming the account a staff key opened.

The cookie holds the account id and its key prefix, signed with the server's key; each request reloads
the account, so a deactivated account is logged out at once. HttpOnly (no script reads it), SameSite=Lax
(not sent on other sites' form posts), Secure when the service is served over https.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session

from api.deps import SessionDep, registry_reachable
from api.pages.csrf import secure_cookies
from api.pages.rendering import settings_of
from api.pages.routing import LoginRequired
from api.problems import ProblemError
from pledgeflow.auth.staff_keys import Role
from pledgeflow.core.models import StaffAccount
from pledgeflow.core.settings import Settings

COOKIE = "pf_staff"
MAX_AGE_SECONDS = 12 * 3600  # one working day; then the key is asked for again


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_key(), salt="pages-staff-session")


def start(response: Response, settings: Settings, account: StaffAccount) -> None:
    value = _serializer(settings).dumps({"id": account.id, "k": account.key_prefix})
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE_SECONDS,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
        path="/staff",
    )


def end(response: Response, settings: Settings) -> None:
    response.delete_cookie(COOKIE, path="/staff", httponly=True, samesite="lax", secure=secure_cookies(settings))


def _account(request: Request, session: Session) -> StaffAccount | None:
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return None
    try:
        claims = _serializer(settings_of(request)).loads(cookie, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("id"), int):
        return None
    with registry_reachable():
        account = session.get(StaffAccount, claims["id"])
    if account is None or not account.active or account.key_prefix != claims.get("k"):
        return None
    return account


def current_staff(request: Request, session: SessionDep) -> StaffAccount:
    """The logged-in staff member; without a valid session the browser is sent to the login page."""
    account = _account(request, session)
    if account is None:
        raise LoginRequired
    request.state.staff = account
    return account


StaffSession = Annotated[StaffAccount, Depends(current_staff)]


def can_decide(account: StaffAccount) -> bool:
    return account.role in {Role.vetter.value, Role.admin.value}


def require_vetter(account: StaffAccount) -> None:
    """Vetters decide (and admins), as in the API: an operator's session gets a 403 page."""
    if not can_decide(account):
        raise ProblemError(403, f"reviewing pledges needs the role vetter or admin; {account.name} is {account.role}")
