"""The words the pages use for the product's codes: statuses, traffic lights, organisation types, SDGs."""

from __future__ import annotations

from dataclasses import dataclass

from pledgeflow.registry.public import TRAFFIC_LIGHTS, PublicStatus, TrafficLight, public_status
from workflows.state import PledgeStatus
from workflows.submission import (
    NARRATIVE_MAX_CHARS,
    NARRATIVE_MIN_CHARS,
    FundingSource,
    GeographicScope,
    Implementation,
    InKind,
    OrganizationType,
    PledgeType,
    Progress,
)

SDG_NAMES = {
    1: "No poverty",
    2: "Zero hunger",
    3: "Good health and well-being",
    4: "Quality education",
    5: "Gender equality",
    6: "Clean water and sanitation",
    7: "Affordable and clean energy",
    8: "Decent work and economic growth",
    9: "Industry, innovation and infrastructure",
    10: "Reduced inequalities",
    11: "Sustainable cities and communities",
    12: "Responsible consumption and production",
    13: "Climate action",
    14: "Life below water",
    15: "Life on land",
    16: "Peace, justice and strong institutions",
    17: "Partnerships for the goals",
}

STATUS_NAMES = {
    PledgeStatus.in_review: "In review",
    PledgeStatus.changes_requested: "Changes requested",
    PledgeStatus.published: "Published",
    PledgeStatus.report_due: "Report due",
    PledgeStatus.report_overdue: "Report overdue",
    PledgeStatus.non_reporting: "Not reporting",
    PledgeStatus.closed: "Closed",
}

STATUS_MEANING = {
    PledgeStatus.in_review: "Staff are reviewing the pledge before it is published.",
    PledgeStatus.changes_requested: "Staff asked for changes before the pledge can be published.",
    PledgeStatus.published: "Published and reporting on time.",
    PledgeStatus.report_due: "This year's progress report has been requested.",
    PledgeStatus.report_overdue: "This year's progress report is overdue.",
    PledgeStatus.non_reporting: "No progress report, long after it was due.",
    PledgeStatus.closed: "No longer active; it stays in the registry with the reason.",
}

PROGRESS_MEANING = {
    Progress.not_started: "Work has not begun yet.",
    Progress.in_progress: "Work is under way.",
    Progress.on_track: "Work is under way and on schedule.",
    Progress.delayed: "Work is behind schedule.",
    Progress.completed: "Everything pledged has been delivered.",
    Progress.discontinued: "The pledge will not be carried on (this closes it).",
}

_SPECIAL = {
    "ngo": "NGO",
    "un_entity": "UN entity",
    "global": "Global",
    "private_sector": "Private sector",
    "in_kind": "In kind",
}

ORGANIZATION_TYPES = list(OrganizationType)
PLEDGE_TYPES = list(PledgeType)
SCOPES = list(GeographicScope)
FUNDING_SOURCES = list(FundingSource)
IN_KIND = list(InKind)
IMPLEMENTATION = list(Implementation)
PROGRESS = list(Progress)
PUBLIC_STATUSES = list(PublicStatus)

NARRATIVE_LENGTH = f"{NARRATIVE_MIN_CHARS:,} to {NARRATIVE_MAX_CHARS:,} characters"


def label(code: object) -> str:
    """``private_sector`` → ``Private sector``; statuses get their public names."""
    if code is None:
        return ""
    text = code.value if hasattr(code, "value") else str(code)
    if text in {status.value for status in PledgeStatus}:
        return STATUS_NAMES[PledgeStatus(text)]
    if text in _SPECIAL:
        return _SPECIAL[text]
    return text.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Badge:
    """A status as a traffic light, always with words and a shape so colour is never the only signal."""

    light: TrafficLight
    text: str
    symbol: str


_SYMBOLS = {TrafficLight.green: "●", TrafficLight.yellow: "▲", TrafficLight.red: "■", TrafficLight.grey: "○"}


def badge(status: str, closure_reason: str | None = None) -> Badge:
    public = public_status(status)
    light = TRAFFIC_LIGHTS[public] if public is not None else TrafficLight.grey
    text = label(status)
    if status == PledgeStatus.closed.value and closure_reason:
        text = f"Closed: {label(closure_reason).lower()}"
    return Badge(light=light, text=text, symbol=_SYMBOLS[light])
