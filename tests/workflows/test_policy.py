"""The policy (docs/lifecycle.md §14): presets, TOML overrides, and the load_policy activity the workflow calls."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.policy import PolicyActivities
from pledgeflow.temporal.worker import build_workers
from tests.conftest import make_settings
from workflows.policy import PRESETS, load_policy


def test_demo_is_the_default_ladder_in_seconds() -> None:
    default, demo = PRESETS["default"], PRESETS["demo"]
    assert demo.review_reminder_after == dt.timedelta(seconds=7)
    assert demo.overdue_after == dt.timedelta(seconds=45)
    assert demo.delisted_after == dt.timedelta(seconds=365)
    assert demo.reporting_interval == dt.timedelta(minutes=2)
    assert default.overdue_after == dt.timedelta(days=45)


def test_demo_gives_a_person_time_to_revise_on_the_page() -> None:
    demo = PRESETS["demo"]
    assert (demo.revision_reminder_after, demo.revision_abandoned_after) == (
        dt.timedelta(minutes=5),
        dt.timedelta(minutes=15),
    )


def test_a_toml_file_overrides_the_preset_field_by_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('reminder_1_after = "10d"\nmax_extension = "90d"\n')
    policy = load_policy("global_compact", path)
    assert (policy.name, policy.reminder_1_after, policy.max_extension) == (
        "global_compact",
        dt.timedelta(days=10),
        dt.timedelta(days=90),
    )
    assert policy.non_reporting_after == dt.timedelta(days=31), "the preset's other numbers stay"


@pytest.mark.parametrize(
    ("text", "error"),
    [('reminder_1_after = "ten days"\n', "is not a duration"), ('remind_me = "3d"\n', "Extra inputs")],
)
def test_a_bad_policy_file_says_what_is_wrong(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(ValidationError, match=error):
        load_policy("default", path)


async def test_the_activity_reads_the_file_anew_and_brings_the_staff_addresses(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('reminder_1_after = "14d"\n')
    settings = make_settings(tmp_path, sqlite_url, policy_file=path, vetting_lead_email="lead@un.example")
    activities = PolicyActivities(settings)
    environment = ActivityEnvironment()

    first = environment.run(activities.load_policy)
    path.write_text('reminder_1_after = "7d"\n')
    second = environment.run(activities.load_policy)

    assert (first.policy.reminder_1_after, second.policy.reminder_1_after) == (
        dt.timedelta(days=14),
        dt.timedelta(days=7),
    )
    assert second.staff.vetting_lead == "lead@un.example"
    assert second.staff.vetting_team == settings.vetting_team_email


async def test_a_worker_with_a_broken_policy_file_does_not_start(
    time_env: WorkflowEnvironment, tmp_path: Path, sqlite_url: str
) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('overdue_after = "soon"\n')
    settings = make_settings(tmp_path, sqlite_url, policy_file=path)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor, pytest.raises(ValidationError):
        build_workers(time_env.client, settings, executor)
