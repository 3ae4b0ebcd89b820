"""A registry that keeps refusing a pledge's projection: the staff timeline says so, and the registry gets
every change, that line included, once it takes writes again (issue 14)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from sqlalchemy import create_engine, text

from pledgeflow.core.settings import Settings
from pledgeflow.temporal.pledge_client import ActionPending
from tests.factories import open_ended
from tests.workflows.driver import Pledges
from tests.workflows.histories import record
from workflows.state import EventKind, PledgeStatus

REFUSE = (
    "CREATE TRIGGER refuse_pledge_updates BEFORE UPDATE ON pledge "
    "BEGIN SELECT RAISE(ABORT, 'the registry refuses this write'); END"
)


def _execute(settings: Settings, statement: str) -> None:
    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


async def test_a_refused_projection_shows_on_the_staff_timeline_and_lands_later(
    pledges: Pledges, settings: Settings
) -> None:
    pledge = await pledges.submit(open_ended())
    await pledge.assert_registry_matches()
    await asyncio.to_thread(_execute, settings, REFUSE)

    with contextlib.suppress(ActionPending):  # answered once the registry has the change
        await pledge.approve()
    await pledges.skip(dt.timedelta(minutes=10))  # the activity's retries, with their backoff
    # The projection is still being retried, so the workflow is never quiet: ask it directly.
    state = await pledge.pledge_client.state(pledge.id)
    behind = state.timeline[-1]
    assert behind.kind == EventKind.registry_behind
    assert behind.public is False
    assert behind.message.startswith("Registry not updated: ") and "the registry refuses this write" in behind.message
    assert "\n" not in behind.message
    registry = pledge.registry_row()
    assert registry is not None and registry.status == PledgeStatus.in_review, "the refused write took nothing"

    await asyncio.to_thread(_execute, settings, "DROP TRIGGER refuse_pledge_updates")
    await pledges.skip(dt.timedelta(minutes=2))
    state = await pledge.wait_for(lambda s: s.status == PledgeStatus.published)
    state = await pledge.assert_registry_matches()
    assert state.status == PledgeStatus.published
    assert EventKind.registry_behind in [event.kind for event in pledge.registry_timeline()]
    assert [event.kind for event in state.timeline].count(EventKind.registry_behind) == 1, "said once"
    await record(pledge, "registry_behind_shown")
