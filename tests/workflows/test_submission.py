"""The rules (docs/api.md §1-2) for a submission and a progress report, each with the field it names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.factories import make_report, make_submission, report_data, submission_data
from workflows.submission import ProgressReport, Submission


def errors_of(data: dict[str, Any], model: type[Submission] | type[ProgressReport] = Submission) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return str(caught.value)


def test_a_realistic_submission_is_valid() -> None:
    submission = make_submission()
    assert submission.sdgs == [4, 9]
    assert [contact.email for contact in submission.contacts()] == [
        "amina@connect-africa.example",
        "peter@connect-africa.example",
    ]


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"title": "Tiny"}, "title", "at least 5"),
        ({"title": "x" * 201}, "title", "at most 200"),
        ({"title": "Two\nlines here"}, "title", "single line"),
        ({"description": "Too short to say anything."}, "description", "at least 50"),
        ({"pledge_type": "charity"}, "pledge_type", "financial"),
        ({"organization": {"name": "Acme", "type": "company", "country": "KEN"}}, "organization.type", "government"),
        ({"organization": {"name": "Acme", "type": "ngo", "country": "KE"}}, "organization.country", "pattern"),
        ({"focal_point": {"name": "Amina", "email": "not-an-address"}}, "focal_point.email", "email"),
        ({"sdgs": []}, "sdgs", "at least 1"),
        ({"sdgs": [18]}, "sdgs.0", "less than or equal to 17"),
        ({"sdgs": [4, 4]}, "sdgs", "each SDG once"),
        ({"sdg_targets": ["12.3"]}, "sdg_targets", "SDG 12, which is not listed"),
        ({"sdg_targets": ["nine-c"]}, "sdg_targets", "is not a target"),
        ({"countries": []}, "countries", "required unless geographic_scope is global"),
        ({"end_date": None}, "end_date", "exactly one"),
        ({"open_ended": True}, "end_date", "exactly one"),
        ({"end_date": "2025-12-31"}, "end_date", "after start_date"),
        ({"deliverables": []}, "deliverables", "at least 1"),
        ({"deliverables": [{"title": "x", "due_date": "2027-01-01"}] * 51}, "deliverables", "at most 50"),
        ({"resources": {"financial_usd": -1}}, "resources.financial_usd", "greater than or equal to 0"),
        ({"website": "http://connect-africa.example"}, "website", "https://"),
        ({"nickname": "CAF"}, "nickname", "Extra inputs are not permitted"),
        ({"title": "Schools\x00 in Kenya"}, "title", "NUL"),
        ({"partners": [{"name": "Min\x00istry", "type": "government"}]}, "partners.0.name", "NUL"),
    ],
)
def test_each_rule_names_its_field(change: dict[str, Any], field: str, says: str) -> None:
    message = errors_of(submission_data(**change))
    assert says in message
    assert field.split(".")[0] in message


def test_global_scope_needs_no_countries_and_zero_dollars_is_a_pledge() -> None:
    submission = make_submission(geographic_scope="global", countries=[], resources={"financial_usd": 0})
    assert submission.countries == [] and submission.resources.financial_usd == 0


def test_open_ended_pledge_has_no_end_date() -> None:
    assert make_submission(end_date=None, open_ended=True).end_date is None


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"progress": "great"}, "not_started"),
        ({"narrative": "Short."}, "at least 20"),
        ({"deliverables": [{"deliverable": "200 schools", "percent_complete": 120}]}, "less than or equal to 100"),
        ({"beneficiaries_reached": -5}, "greater than or equal to 0"),
        ({"narrative": "We connected\x00 230 schools this year."}, "NUL"),
    ],
)
def test_report_rules(change: dict[str, Any], says: str) -> None:
    assert says in errors_of(report_data(**change), ProgressReport)


def test_a_realistic_report_is_valid() -> None:
    assert make_report().progress.value == "on_track"
