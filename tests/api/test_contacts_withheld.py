"""No contact in public output (issue 13): e-mail addresses and phone numbers typed into any free text of a
published pledge are withheld everywhere the public reads it: the pledge's JSON and page, search, the CSV
and JSON exports, the Atom feed and the related pledges' reasons; numbers that are not phone numbers stay."""

from __future__ import annotations

from pledgeflow.registry.public import EMAIL_WITHHELD, PHONE_WITHHELD, withhold_contacts
from tests.api.registry_seeding import (  # noqa: F401 - fixtures
    Registry,
    registry_fixture,
    registry_url_fixture,
)

CONTACTS = ("otieno@ict.example", "+254 20 2712345", "0722 123 456", "+44 20 7946 0958")


def test_phone_numbers_are_found_as_libphonenumber_reads_them_and_other_numbers_stay() -> None:
    text = (
        "Call +254 20 2712345 or 0722 123 456, or mail otieno@ict.example. From 2026-2030 we connect "
        "2,500 schools for USD 10,000,000 (SDG target 9.c), ref. 12345678, due 01-01-2027."
    )
    assert withhold_contacts(text, "KEN") == (
        f"Call {PHONE_WITHHELD} or {PHONE_WITHHELD}, or mail {EMAIL_WITHHELD}. From 2026-2030 we connect "
        "2,500 schools for USD 10,000,000 (SDG target 9.c), ref. 12345678, due 01-01-2027."
    )
    # Without the organisation's country only international numbers can be told apart.
    assert withhold_contacts("Ring +1-202-555-0143 or 0722 123 456.") == f"Ring {PHONE_WITHHELD} or 0722 123 456."
    assert withhold_contacts("Ring (020) 7946 0958.", "GBR") == f"Ring {PHONE_WITHHELD}."


async def test_no_contact_typed_into_free_text_reaches_any_public_output(registry: Registry) -> None:
    hostile = "Amina Otieno, otieno@ict.example, +254 20 2712345"
    mine = registry.publish(
        title="Broadband for schools: call 0722 123 456",
        organization={"name": "Ministry of ICT (otieno@ict.example)", "type": "government", "country": "KEN"},
        partners=[{"name": hostile, "type": "ngo"}, {"name": "UNICEF Kenya", "type": "un_entity"}],
        geographic_scope="regional",
        countries=["KEN"],
        regions=["East Africa, desk +44 20 7946 0958"],
        deliverables=[{"title": "Helpdesk on 0722 123 456 opens", "due_date": "2027-01-01"}],
    )
    registry.publish(partners=[{"name": hostile, "type": "ngo"}], countries=["KEN"], geographic_scope="national")
    pledge = mine.pledge_id
    outputs = {
        path: (await registry.http.get(path)).text
        for path in (
            f"/api/v1/registry/pledges/{pledge}",
            f"/api/v1/registry/pledges/{pledge}/related",
            "/api/v1/registry/pledges?q=Broadband",
            "/api/v1/registry/export.csv",
            "/api/v1/registry/export.json",
            "/api/v1/registry/feed.atom",
            f"/registry/{pledge}",
            "/registry",
        )
    }
    for path, body in outputs.items():
        for contact in CONTACTS:
            assert contact not in body, f"{contact} in {path}"
    assert "[e-mail withheld]" in outputs["/api/v1/registry/export.csv"]
    assert "[phone withheld]" in outputs[f"/api/v1/registry/pledges/{pledge}/related"]
