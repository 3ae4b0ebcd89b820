"""The public timeline names roles, never staff (issue 13): the registry's API and page say the vetting team
approved, and the staff member's name stays in the staff-only actor column."""

from __future__ import annotations

from pledgeflow.auth.staff_keys import Role
from tests.api.conftest import decide, submit, wait_for_row
from tests.conftest import Stack


async def test_the_public_timeline_of_an_approved_pledge_names_no_staff_member(
    stack: Stack, staff_keys: dict[Role, str]
) -> None:
    pledge = await submit(stack.http, resources={"financial_usd": 20_000_000, "funding_sources": []})
    for role in (Role.vetter, Role.admin):  # over USD 10 M: two people approve
        await decide(stack.http, pledge, staff_keys[role], "approve")
    names = ["vetter-", "admin-"]  # the accounts' names (tests.api.conftest.make_staff)
    await wait_for_row(stack.settings.database_url, pledge.id, status="published")

    public = (await stack.http.get(f"/api/v1/registry/pledges/{pledge.id}")).json()["timeline"]
    page = (await stack.http.get(f"/registry/{pledge.id}")).text

    approved = [entry for entry in public if entry["kind"] == "approved"]
    assert [(entry["actor"], entry["message"]) for entry in approved] == [
        ("staff", "Approved by the vetting team (2 approvals).")
    ]
    for name in names:
        assert not any(name in entry["message"] for entry in public)
        assert name not in page
    staff_view = (await stack.http.get(f"/api/v1/pledges/{pledge.id}", headers=pledge.auth)).json()["timeline"]
    approvers = [event["staff"] for event in staff_view if event["kind"] in ("approval_recorded", "approved")]
    assert [approver.split("-")[0] for approver in approvers] == ["vetter", "admin"]  # kept for staff
