"""A public pledge page (reports, public timeline), related pledges, and no contact e-mail anywhere."""

from __future__ import annotations

import datetime as dt

from tests.api.registry_seeding import (  # noqa: F401
    BACKUP_EMAIL,
    EPOCH,
    FOCAL_EMAIL,
    Registry,
    registry_fixture,
    registry_url_fixture,
)
from workflows.state import ClosureReason, PledgeStatus

PROBLEM = "application/problem+json"
KENYA_PARTNERS = [{"name": "Ministry of ICT", "type": "government"}]


async def test_pledge_page_has_reports_and_only_the_public_timeline(registry: Registry) -> None:
    state = registry.publish(status=PledgeStatus.report_due, cycle=2, report_cycles=(1,), history=True)

    response = await registry.http.get(f"/api/v1/registry/pledges/{state.pledge_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    pledge = body["pledge"]
    assert pledge["title"] == "Connecting 500 rural schools in Kenya by 2027"
    assert pledge["organization"] == {"name": "Connect Africa Foundation", "type": "foundation", "country": "KEN"}
    assert pledge["status"] == "report_due" and pledge["traffic_light"] == "green"
    assert pledge["links"]["page"] == f"https://registry.example.org/registry/{state.pledge_id}"
    assert "focal_point" not in pledge and "backup_contact" not in pledge

    [report] = body["reports"]
    assert report["cycle"] == 1 and report["progress"] == "on_track"
    assert report["narrative"] == "Cycle 1: connected 230 schools; questions to [e-mail withheld] please."
    assert report["beneficiaries_reached"] == 86_000

    timeline = body["timeline"]
    assert [entry["kind"] for entry in timeline] == ["submitted", "approved", "report_requested"]
    assert [entry["actor"] for entry in timeline] == ["pledger", "staff", "system"]  # staff are not named
    assert timeline[2]["message"] == "Report request for cycle 1 sent to [e-mail withheld]."
    assert "Checked the budget" not in response.text  # the staff-only vetting note


async def test_closed_pledge_keeps_its_page_with_the_reason(registry: Registry) -> None:
    state = registry.publish(
        status=PledgeStatus.closed,
        closure_reason=ClosureReason.delisted,
        closure_note=f"No report for two years; write to {BACKUP_EMAIL} to reinstate.",
        history=True,
    )
    pledge = (await registry.http.get(f"/api/v1/registry/pledges/{state.pledge_id}")).json()["pledge"]
    assert (pledge["status"], pledge["closure_reason"], pledge["traffic_light"]) == ("closed", "delisted", "grey")
    assert pledge["closure_note"] == "No report for two years; write to [e-mail withheld] to reinstate."
    assert pledge["next_deadline"] is None


async def test_unknown_or_never_published_pledge_is_404(registry: Registry) -> None:
    in_review = registry.publish(status=PledgeStatus.in_review).pledge_id
    rejected = registry.publish(status=PledgeStatus.closed, closure_reason=ClosureReason.rejected).pledge_id
    for pledge_id in ("PF-2222222", "pf-2222222", "PF-" + "2" * 40, "x%00y", in_review, rejected):
        for path in (f"/api/v1/registry/pledges/{pledge_id}", f"/api/v1/registry/pledges/{pledge_id}/related"):
            response = await registry.http.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["title"] == "Not found"


async def test_related_pledges_are_ranked_with_the_reason(registry: Registry) -> None:
    def publish(days: int, **submission: object) -> str:
        return registry.publish(published_at=EPOCH + dt.timedelta(days=days), sdg_targets=[], **submission).pledge_id

    mine = publish(0, partners=KENYA_PARTNERS)
    same_place = publish(1, title="Teachers online in Kenya", partners=[])
    one_sdg = publish(2, sdgs=[4, 5], countries=["UGA"], partners=[])
    shares_partner = publish(
        3, sdgs=[14], countries=["SEN"], partners=[{"name": "ministry of ict", "type": "government"}]
    )
    partner_pledges = publish(
        4,
        sdgs=[16],
        countries=["EST"],
        organization={"name": "Ministry of ICT", "type": "government", "country": "KEN"},
        partners=[],
    )
    partners_with_me = publish(
        5, sdgs=[13], countries=["BRA"], partners=[{"name": "Connect Africa Foundation", "type": "foundation"}]
    )
    publish(6, sdgs=[14], countries=["SEN"], partners=[])  # nothing in common
    registry.publish(status=PledgeStatus.in_review, partners=KENYA_PARTNERS)  # a twin, but not public

    response = await registry.http.get(f"/api/v1/registry/pledges/{mine}/related")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(item["pledge"]["id"], item["score"], item["reason"]) for item in items] == [
        (same_place, 4, "shares SDG 4 and 9; also in KEN"),
        (partners_with_me, 3, "partners with Connect Africa Foundation"),
        (partner_pledges, 3, "pledged by partner Ministry of ICT"),
        (shares_partner, 3, "also works with ministry of ict"),
        (one_sdg, 1, "shares SDG 4"),
    ]
    assert items[0]["shared_sdgs"] == [4, 9] and items[0]["shared_countries"] == ["KEN"]

    bounded = await registry.http.get(f"/api/v1/registry/pledges/{mine}/related", params={"limit": 2})
    assert [item["pledge"]["id"] for item in bounded.json()["items"]] == [same_place, partners_with_me]
    assert (
        await registry.http.get(f"/api/v1/registry/pledges/{mine}/related", params={"limit": 51})
    ).status_code == 422


async def test_no_contact_email_in_any_public_response(registry: Registry) -> None:
    first = registry.publish(status=PledgeStatus.published, cycle=1, report_cycles=(1,), history=True)
    registry.publish(
        status=PledgeStatus.closed,
        closure_reason=ClosureReason.withdrawn,
        closure_note=f"Withdrawn at the request of {FOCAL_EMAIL}",
        published_at=EPOCH + dt.timedelta(days=3),
        history=True,
    )
    registry.publish(status=PledgeStatus.in_review, history=True)
    paths = [
        "/api/v1/registry/pledges",
        "/api/v1/registry/pledges?q=kenya&sdg=4&sdg=9&country=KEN&scope=national&status=published",
        f"/api/v1/registry/pledges/{first.pledge_id}",
        f"/api/v1/registry/pledges/{first.pledge_id}/related",
        "/api/v1/registry/stats",
        "/api/v1/registry/export.csv",
        "/api/v1/registry/export.json",
        "/api/v1/registry/feed.atom",
    ]
    for path in paths:
        response = await registry.http.get(path)
        assert response.status_code == 200, path
        assert "@" not in response.text, path
        for secret in (FOCAL_EMAIL, BACKUP_EMAIL, "Amina Otieno", "Peter Mwangi", "focal_point"):
            assert secret not in response.text, (path, secret)
