"""Realistic submissions and reports for tests, modelled on Partner2Connect pledges."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pledgeflow.core.models import Pledge
from pledgeflow.registry.facets import time_frame
from workflows.submission import ProgressReport, Submission


def submission_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "title": "Connecting 500 rural schools in Kenya by 2027",
        "description": (
            "We will bring broadband connectivity and digital skills training to 500 rural schools in "
            "Kenya, working with the Ministry of ICT and local operators."
        ),
        "pledge_type": "programmatic",
        "organization": {"name": "Connect Africa Foundation", "type": "foundation", "country": "KEN"},
        "focal_point": {"name": "Amina Otieno", "email": "amina@connect-africa.example", "position": "Director"},
        "backup_contact": {"name": "Peter Mwangi", "email": "peter@connect-africa.example"},
        "partners": [{"name": "Ministry of ICT", "type": "government"}],
        "sdgs": [4, 9],
        "sdg_targets": ["9.c", "4.4"],
        "geographic_scope": "national",
        "countries": ["KEN"],
        "start_date": "2026-01-01",
        "end_date": "2027-12-31",
        "deliverables": [
            {"title": "200 schools connected", "due_date": "2026-12-31"},
            {"title": "500 schools connected", "due_date": "2027-12-31"},
        ],
        "resources": {"financial_usd": 2_500_000, "funding_sources": ["foundation"], "in_kind": ["staff"]},
        "implementation": ["technology_transfer", "training"],
        "website": "https://connect-africa.example/schools",
    }
    data.update(overrides)
    return data


def make_submission(**overrides: Any) -> Submission:
    return Submission.model_validate(submission_data(**overrides))


def open_ended(**overrides: Any) -> Submission:
    return make_submission(end_date=None, open_ended=True, start_date=dt.date(2026, 1, 1).isoformat(), **overrides)


def report_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "progress": "on_track",
        "narrative": "We connected 230 schools this year and trained 1,100 teachers in digital skills.",
        "deliverables": [{"deliverable": "200 schools connected", "percent_complete": 100}],
        "beneficiaries_reached": 86_000,
    }
    data.update(overrides)
    return data


def make_report(**overrides: Any) -> ProgressReport:
    return ProgressReport.model_validate(report_data(**overrides))


def registry_row(pledge_id: str, status: str, token_version: int = 1) -> Pledge:
    """A pledge's registry row as a projection would write it, for tests that need one without a workflow
    (a bumped token version, say)."""
    now = dt.datetime.now(dt.UTC)
    return Pledge(
        id=pledge_id,
        title="Connecting 500 rural schools in Kenya by 2027",
        status=status,
        pledge_type="programmatic",
        organization_name="Connect Africa Foundation",
        organization_type="foundation",
        organization_country="KEN",
        geographic_scope="national",
        start_date=dt.date(2026, 1, 1),
        time_frame=time_frame(dt.date(2026, 1, 1), None, open_ended=False).value,
        submission={},
        submitted_at=now,
        review_started_at=now,
        updated_at=now,
        token_version=token_version,
    )
