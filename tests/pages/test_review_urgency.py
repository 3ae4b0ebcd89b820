"""The review queue says what is urgent: reviews escalated to the vetting lead first, then those whose
reminder went out, each flagged in words and a shape; read from the registry the workflows project."""

from __future__ import annotations

import datetime as dt
import re

import httpx

from activities.registry import RegistryActivities
from api.app import create_app
from pledgeflow.auth.staff_keys import Role, add_staff
from pledgeflow.core import ids
from pledgeflow.core.db import session_for
from pledgeflow.registry.review_queue import pledges_in_review
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from tests.factories import make_submission
from tests.pages.conftest import csrf_of
from workflows.projection import PledgeProjection
from workflows.state import Actor, EventKind, PledgeState, PledgeStatus, TimelineEvent


def in_review(url: str, title: str, waited_days: int, chased: tuple[EventKind, ...] = (), revised: bool = False) -> str:
    """A pledge in review for ``waited_days``, reminded or escalated in this round (or, if ``revised``, only
    in the round before its revision, which no longer counts)."""
    started = EPOCH - dt.timedelta(days=waited_days)
    events = [
        TimelineEvent(seq=1, at=started, actor=Actor.pledger, kind=EventKind.submitted, message="Pledge submitted.",
                      status=PledgeStatus.in_review, public=False)
    ]  # fmt: skip
    for number, kind in enumerate(chased, start=2):
        events.append(
            TimelineEvent(seq=number, at=started + dt.timedelta(days=7 * (number - 1)), actor=Actor.system,
                          kind=kind, message=f"{kind.value} sent.", status=PledgeStatus.in_review, public=False)
        )  # fmt: skip
    state = PledgeState(
        pledge_id=ids.new_pledge_id(),
        submission=make_submission(title=title),
        submitted_at=started,
        review_started_at=EPOCH if revised else started,
        submission_version=2 if revised else 1,
        timeline=events,
    )
    RegistryActivities(url).project_pledge(PledgeProjection.of(state))
    return state.pledge_id


async def test_the_queue_puts_escalated_then_overdue_reviews_first_and_says_so(registry: Registry) -> None:
    calm = in_review(
        registry.url, "Longest waiting, but revised since its reminder", 40, (EventKind.review_overdue,), revised=True
    )
    overdue = in_review(registry.url, "Reminded once", 9, (EventKind.review_overdue,))
    fresh = in_review(registry.url, "Just in", 1)
    escalated = in_review(registry.url, "Escalated", 15, (EventKind.review_overdue, EventKind.review_escalated))
    with session_for(registry.url) as session:
        queue = pledges_in_review(session, 50).items
        key = add_staff(session, "vera-urgency", Role.vetter)
    assert [item.id for item in queue] == [escalated, overdue, fresh, calm]  # the revision restarted its wait
    assert [(item.review_escalated, item.review_overdue) for item in queue] == [
        (True, True), (False, True), (False, False), (False, False)
    ]  # fmt: skip

    # The registry is served over https here, so its cookies are Secure: a browser over https, then.
    transport = httpx.ASGITransport(app=create_app(registry.settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://registry.example.org") as http:
        login = await http.get("/staff/login")
        await http.post("/staff/login", data={"csrf_token": csrf_of(login.text), "key": key})
        page = (await http.get("/staff/queue")).text
    rows = re.findall(r"<tr(?: class=\"(row--\w+)\")?>\s*<td><a href=\"/staff/pledges/(PF-\w+)\">", page)
    assert rows == [("row--escalated", escalated), ("row--overdue", overdue), ("", fresh), ("", calm)]
    assert page.count(">■</span> Escalated</span>") == 1 and page.count(">▲</span> Overdue</span>") == 1
