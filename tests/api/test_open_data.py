"""Open data as a standard (docs/open-data.md): the JSON export validates against the schema the registry ships
and serves, and the IATI file against the IATI 2.03 activity schema (tests/data/iati-2.03)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
from lxml import etree

from pledgeflow.registry import schema as registry_schema
from tests.api.registry_seeding import EPOCH, Registry, registry_fixture, registry_url_fixture  # noqa: F401
from workflows.state import ClosureReason, PledgeStatus

IATI_DATA = Path(__file__).parents[1] / "data" / "iati-2.03"
IATI = IATI_DATA / "iati-activities-schema.xsd"


@pytest.fixture(scope="module")
def iati_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(IATI)))


def seed(registry: Registry) -> None:
    """Pledges with what the formats must carry: targets, regions, partners, reports with deliverables,
    a closed one, an open-ended one without money, and text no XML may hold."""
    registry.publish(report_cycles=(1, 2), cycle=3, regions=["Sub-Saharan Africa", "East Africa"])
    registry.publish(
        status=PledgeStatus.closed,
        closure_reason=ClosureReason.completed,
        title="Free public Wi-Fi in 40 towns \x0b (phase 1)",
        published_at=EPOCH + dt.timedelta(days=3),
        report_cycles=(1,),
    )
    registry.publish(
        geographic_scope="global",
        countries=[],
        end_date=None,
        open_ended=True,
        resources={"financial_usd": 0},
        partners=[],
        sdg_targets=[],
        published_at=EPOCH + dt.timedelta(days=5),
    )
    registry.publish(status=PledgeStatus.in_review)  # never public: in neither file


def test_the_shipped_schema_is_what_the_public_shapes_generate() -> None:
    shipped = json.loads(registry_schema.SCHEMA_FILE.read_text())
    assert shipped == registry_schema.generated(), "run python -m pledgeflow.registry.schema after changing them"


async def test_the_json_export_validates_against_the_served_schema(registry: Registry) -> None:
    seed(registry)
    served = await registry.http.get("/api/v1/registry/schema.json")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("application/schema+json")
    schema = served.json()
    assert schema["$id"] == "https://registry.example.org/api/v1/registry/schema.json"
    jsonschema.Draft202012Validator.check_schema(schema)

    export = (await registry.http.get("/api/v1/registry/export.json")).json()
    assert len(export) == 3
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert [error.message for error in validator.iter_errors(export)] == []

    # The schema is not a formality: a field too many, or one gone, fails it.
    export[0]["focal_point"] = {"name": "Amina Otieno", "email": "amina@connect-africa.example"}
    del export[1]["status"]
    messages = sorted(error.message for error in validator.iter_errors(export))
    assert len(messages) == 2
    assert "'status' is a required property" in messages[0]
    assert "'focal_point' was unexpected" in messages[1]


async def test_the_iati_file_is_valid_iati_2_03_with_sdgs_budgets_and_results(
    registry: Registry, iati_schema: etree.XMLSchema
) -> None:
    seed(registry)
    response = await registry.http.get("/api/v1/registry/export.iati.xml")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    document = etree.fromstring(response.content)
    assert iati_schema.validate(document), iati_schema.error_log.last_error

    activities = document.findall("iati-activity")
    assert document.get("version") == "2.03" and len(activities) == 3
    reported = activities[2]  # the registry's order: newest publication first
    assert reported.findtext("iati-identifier").startswith("XI-PLEDGEFLOW-PF-")
    assert [(t.get("vocabulary"), t.get("code")) for t in reported.findall("tag")] == [
        ("2", "4"),
        ("2", "9"),
        ("3", "9.c"),
        ("3", "4.4"),
    ]
    assert [c.get("code") for c in reported.findall("recipient-country")] == ["KE"]
    assert [r.findtext("narrative") for r in reported.findall("recipient-region")] == [
        "Sub-Saharan Africa",
        "East Africa",
    ]
    [budget] = reported.findall("budget")
    assert (budget.findtext("value"), budget.find("value").get("currency")) == ("2500000", "USD")
    roles = [(p.get("role"), p.get("type"), p.findtext("narrative")) for p in reported.findall("participating-org")]
    assert roles == [("2", "60", "Connect Africa Foundation"), ("4", "10", "Ministry of ICT")]
    results = reported.findall("result")
    assert [r.findtext("title/narrative")[:32] for r in results] == ["Progress report for cycle 1, 202"] * 1 + [
        "Progress report for cycle 2, 202"
    ]
    percent = results[0].find("indicator[@measure='2']/period/actual")
    assert percent.get("value") == "100"
    assert "[e-mail withheld]" in results[0].findtext("description/narrative")
    assert b"connect-africa.example" not in response.content, "no contact address in public output"

    closed, open_ended = activities[1], activities[0]
    assert closed.find("activity-status").get("code") == "4"
    assert closed.findtext("title/narrative") == "Free public Wi-Fi in 40 towns  (phase 1)"
    assert open_ended.find("budget") is None and open_ended.find("activity-scope").get("code") == "1"


async def test_a_broken_activity_fails_the_iati_schema(registry: Registry, iati_schema: etree.XMLSchema) -> None:
    """The schema check can fail: the same file with its activities' order of elements broken is refused."""
    seed(registry)
    document = etree.fromstring((await registry.http.get("/api/v1/registry/export.iati.xml")).content)
    activity = document.find("iati-activity")
    activity.append(activity.find("title"))  # title after everything else
    assert not iati_schema.validate(document)
    assert "title" in str(iati_schema.error_log.last_error)


@pytest.mark.parametrize("verdict", ["should-pass", "should-fail"])
def test_the_validation_agrees_with_iatis_own_test_corpus(verdict: str, iati_schema: etree.XMLSchema) -> None:
    cases = sorted((IATI_DATA / "activity-tests" / verdict).rglob("*.xml"))
    assert len(cases) > 30
    disagreements = [
        case.name for case in cases if iati_schema.validate(etree.parse(str(case))) != (verdict == "should-pass")
    ]
    assert disagreements == []
