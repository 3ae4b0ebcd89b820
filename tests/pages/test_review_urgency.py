"""The review queue says what is urgent: reviews escalated to the vetting lead first, then those whose
reminder went out, each flagged in words and a shape; read from the registry the workflows project."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re

import httpx
import pytest

from activities.registry import RegistryActivities
from api.app import create_app
from api.pages import staff as staff_pages
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


async def test_a_queue_longer_than_a_page_is_paged_and_says_how_long_it_is(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(staff_pages, "QUEUE_SHOWN", 2)
    escalated = in_review(registry.url, "Waiting longest, escalated", 20, (EventKind.review_overdue,
                                                                          EventKind.review_escalated))  # fmt: skip
    waiting = [escalated, *(in_review(registry.url, f"Waiting {days} days", days) for days in (9, 8, 7, 6))]
    with session_for(registry.url) as session:
        key = add_staff(session, "vera-pages", Role.vetter)

    api = await registry.http.get("/api/v1/review/queue?limit=2&offset=2", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 200, api.text
    assert [item["id"] for item in api.json()["items"]] == waiting[2:4]
    assert (api.json()["total"], api.json()["offset"]) == (5, 2)

    transport = httpx.ASGITransport(app=create_app(registry.settings))
    async with httpx.AsyncClient(transport=transport, base_url="https://registry.example.org") as http:
        login = await http.get("/staff/login")
        await http.post("/staff/login", data={"csrf_token": csrf_of(login.text), "key": key})
        shown, counts, url = [], [], "/staff/queue"
        while url:
            page = await http.get(url)
            assert page.status_code == 200, page.text
            shown += re.findall(r'<td><a href="/staff/pledges/(PF-\w+)">', page.text)
            counts += re.findall(r"Pledges (\d+) to (\d+) of (\d+) in review\.", page.text)
            assert ("← First page" in page.text) == (url != "/staff/queue")
            following = re.search(r'<a class="button button--secondary" href="([^"]+)" rel="next">', page.text)
            url = html_lib.unescape(following.group(1)) if following else ""
        beyond = await http.get("/staff/queue?start=40")
        negative = await http.get("/staff/queue?start=-1")
    assert shown == waiting  # every pledge in review once, in waiting order, the escalated one first
    assert counts == [("1", "2", "5"), ("3", "4", "5"), ("5", "5", "5")]
    assert beyond.status_code == 200 and "No pledge in review this far down the queue." in beyond.text
    assert negative.status_code == 422
