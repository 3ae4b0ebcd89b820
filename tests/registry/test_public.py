"""Which statuses the public registry shows, and the traffic light each one shows as."""

from __future__ import annotations

from pledgeflow.registry.public import NEVER_PUBLIC, TRAFFIC_LIGHTS, PublicStatus, TrafficLight, public_status
from workflows.state import PledgeStatus


def test_only_the_statuses_of_vetting_are_never_public() -> None:
    assert sorted(NEVER_PUBLIC) == [PledgeStatus.changes_requested, PledgeStatus.in_review]
    assert {status for status in PledgeStatus if public_status(status) is None} == NEVER_PUBLIC
    assert public_status("report_overdue") is PublicStatus.report_overdue


def test_every_public_status_has_its_light() -> None:
    assert set(TRAFFIC_LIGHTS) == set(PublicStatus)
    assert TRAFFIC_LIGHTS[PublicStatus.non_reporting] is TrafficLight.red
