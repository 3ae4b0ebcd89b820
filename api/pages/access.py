"""Who may use a pledger's page, as ``Annotated`` dependencies: the CSRF-checked form and the link's token.

A pledger's page is opened from an emailed link whose token is in the query string; the page carries it
on in a hidden input, so the forms it posts hold it too. Either way the token is verified by the API's
own functions (api.deps), so a page admits exactly whom the API would, with the same 401 and 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.datastructures import FormData

from api.deps import SessionDep, SettingsDep, author_claims, owner_claims
from api.pages.rendering import guard_of
from pledgeflow.auth.tokens import TokenClaims
from pledgeflow.core.settings import Settings


async def posted_form(request: Request) -> FormData:
    """The form, once its CSRF token has been checked: nothing acts on a form another site could forge.

    A staff route resolves its session first (its ``StaffSession`` parameter comes before the form), and
    its forms must then carry that session's token."""
    form = await request.form()
    guard_of(request).check(request, form, getattr(request.state, "staff_session", None))
    return form


PostedForm = Annotated[FormData, Depends(posted_form)]


@dataclass(frozen=True)
class LinkToken:
    """A pledger's verified token: its claims, and its text for the links and forms of the next page."""

    text: str
    claims: TokenClaims


ClaimsCheck = Callable[[str, Settings, Session, str | None], TokenClaims]


def _verified(check: ClaimsCheck, pledge_id: str, settings: Settings, session: Session, token: str | None) -> LinkToken:
    claims = check(pledge_id, settings, session, token)
    assert token is not None  # every check refuses a request without a token (401)
    return LinkToken(token, claims)


def _posted_token(form: FormData) -> str | None:
    value = form.get("token")
    return value if isinstance(value, str) else None


def _owner_in_link(pledge_id: str, settings: SettingsDep, session: SessionDep, token: str | None = None) -> LinkToken:
    return _verified(owner_claims, pledge_id, settings, session, token)


def _owner_in_form(pledge_id: str, settings: SettingsDep, session: SessionDep, form: PostedForm) -> LinkToken:
    return _verified(owner_claims, pledge_id, settings, session, _posted_token(form))


def _author_in_link(pledge_id: str, settings: SettingsDep, session: SessionDep, token: str | None = None) -> LinkToken:
    return _verified(author_claims, pledge_id, settings, session, token)


def _author_in_form(pledge_id: str, settings: SettingsDep, session: SessionDep, form: PostedForm) -> LinkToken:
    return _verified(author_claims, pledge_id, settings, session, _posted_token(form))


# The pledge's manage token, from the link (GET) or from the posted form (POST).
ManageLink = Annotated[LinkToken, Depends(_owner_in_link)]
ManageForm = Annotated[LinkToken, Depends(_owner_in_form)]
# The manage token or a report link's token (scoped to its cycle), from the link or the posted form.
ReportLink = Annotated[LinkToken, Depends(_author_in_link)]
ReportForm = Annotated[LinkToken, Depends(_author_in_form)]
