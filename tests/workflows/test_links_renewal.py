"""An operator renews a pledge's links (pledgeflow ops revoke-tokens): the registry's token version goes up,
and the focal point is emailed a fresh manage link; the staff timeline says so, the public one does not."""

from __future__ import annotations

from tests.factories import open_ended
from tests.workflows.driver import Pledges
from tests.workflows.histories import record
from workflows.emails import EmailKind
from workflows.state import EventKind, PledgeStatus


async def test_renewing_links_raises_the_token_version_and_emails_a_new_link(pledges: Pledges) -> None:
    pledge = await pledges.published(open_ended())
    row = pledge.registry_row()
    assert row is not None and row.token_version == 1

    result = await pledge.renew_links()

    assert result.status == PledgeStatus.published
    state = await pledge.assert_registry_matches()
    row = pledge.registry_row()
    assert row is not None and row.token_version == 2
    [renewed] = [event for event in state.timeline if event.kind == EventKind.links_renewed]
    assert (renewed.public, renewed.registry_actor) == (False, "staff:omar")
    assert [s.to for s in pledge.emails(EmailKind.links_renewed)] == ["focal_point"]
    await record(pledge, "links_renewed")
