"""One-click unsubscribe from reminder mail (RFC 8058; docs/email.md §7).

Reminders carry ``List-Unsubscribe: <URL>`` and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. A
mail client that offers "Unsubscribe" POSTs the body ``List-Unsubscribe=One-Click`` to the URL, with no
cookie and no credentials: the URL's token is all it has, and it names the pledge and the one recipient.
Mail scanners open links, so a GET only shows a page whose button makes that same POST. The POST is
answered with the page itself, never a redirect (RFC 8058 §3.1: redirected POSTs do not work reliably).

The pledge's workflow decides (``stop_reminders``): no more reminders to that contact for this pledge, the
secretariat is told, and the pledge goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import SessionDep, SettingsDep, TemporalDep, registry_reachable, unsubscribe_claims
from api.pages.rendering import render
from api.pages.routing import page_router
from api.problems import ProblemError
from pledgeflow.auth.tokens import is_for
from pledgeflow.core import links
from pledgeflow.core.models import Pledge
from pledgeflow.temporal.pledge_client import PledgeClosed
from workflows.emails import RecipientRole
from workflows.state import StopRemindersInput

router = page_router("pages: unsubscribe")

ONE_CLICK = ("List-Unsubscribe", "One-Click")


@dataclass(frozen=True)
class UnsubscribeLink:
    """A verified unsubscribe link: the pledge, and which of its contacts the link was sent to."""

    token: str
    pledge_id: str
    title: str
    role: str  # the contact's role: focal_point or backup_contact
    address: str
    public_url: str

    @property
    def masked_address(self) -> str:
        """Enough of the address for its owner to recognise it, should the link travel further."""
        local, _, domain = self.address.partition("@")
        return f"{local[:1]}•••@{domain}"


def _unsubscribe_link(
    pledge_id: str, settings: SettingsDep, session: SessionDep, token: str | None = None
) -> UnsubscribeLink:
    claims = unsubscribe_claims(pledge_id, settings, session, token)
    assert token is not None  # unsubscribe_claims refuses a request without one (401)
    with registry_reachable():
        pledge = session.get(Pledge, pledge_id)
    if pledge is None:
        raise ProblemError(404, f"no pledge {pledge_id}")
    for role in (RecipientRole.focal_point, RecipientRole.backup_contact):
        contact = pledge.submission.get(role.value)
        if isinstance(contact, dict) and is_for(settings.signing_key(), claims, str(contact.get("email", ""))):
            return UnsubscribeLink(
                token=token,
                pledge_id=pledge_id,
                title=pledge.title,
                role=role.value,
                address=str(contact["email"]),
                public_url=links.pledge_page(settings.public_base_url, pledge_id),
            )
    raise ProblemError(404, "the address this link was sent to is no longer a contact of the pledge")


UnsubscribeLinkDep = Annotated[UnsubscribeLink, Depends(_unsubscribe_link)]


@router.get("/pledges/{pledge_id}/unsubscribe", response_class=HTMLResponse, name="unsubscribe_page")
def confirm_unsubscribe(request: Request, link: UnsubscribeLinkDep) -> Response:
    """What a person (or a mail scanner) sees on opening the link: a question and a button, nothing done."""
    return render(request, "unsubscribe.html", link=link, done=None, closed=False)


@router.post("/pledges/{pledge_id}/unsubscribe", response_class=HTMLResponse)
async def unsubscribe(pledge_id: str, request: Request, link: UnsubscribeLinkDep, pledges: TemporalDep) -> Response:
    form = await request.form()
    if form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        raise ProblemError(422, "a one-click unsubscribe posts List-Unsubscribe=One-Click")
    try:
        result = await pledges.stop_reminders(pledge_id, StopRemindersInput(recipient=link.address))
    except PledgeClosed:
        done, closed = "This pledge is closed: no more reminders are sent for it.", True
    else:
        done, closed = result.message, False
    return render(request, "unsubscribe.html", link=link, done=done, closed=closed)
