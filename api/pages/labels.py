"""The words the pages use for the product's codes: statuses, traffic lights, types, SDGs, form fields.

Every word here is an English message of the catalogues (``N_`` marks it for extraction); templates show
it through the ``label`` filter or ``_()``, which translate it into the page's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from pledgeflow.i18n import N_
from pledgeflow.registry.public import TRAFFIC_LIGHTS, PublicStatus, TrafficLight, public_status
from workflows.state import Actor, ClosureReason, EventKind, PledgeStatus
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
    1: N_("No poverty"),
    2: N_("Zero hunger"),
    3: N_("Good health and well-being"),
    4: N_("Quality education"),
    5: N_("Gender equality"),
    6: N_("Clean water and sanitation"),
    7: N_("Affordable and clean energy"),
    8: N_("Decent work and economic growth"),
    9: N_("Industry, innovation and infrastructure"),
    10: N_("Reduced inequalities"),
    11: N_("Sustainable cities and communities"),
    12: N_("Responsible consumption and production"),
    13: N_("Climate action"),
    14: N_("Life below water"),
    15: N_("Life on land"),
    16: N_("Peace, justice and strong institutions"),
    17: N_("Partnerships for the goals"),
}

STATUS_MEANING = {
    PledgeStatus.in_review: N_("Staff are reviewing the pledge before it is published."),
    PledgeStatus.changes_requested: N_("Staff asked for changes before the pledge can be published."),
    PledgeStatus.published: N_("Published and reporting on time."),
    PledgeStatus.report_due: N_("This year's progress report has been requested."),
    PledgeStatus.report_overdue: N_("This year's progress report is overdue."),
    PledgeStatus.non_reporting: N_("No progress report, long after it was due."),
    PledgeStatus.closed: N_("No longer active; it stays in the registry with the reason."),
}

PROGRESS_MEANING = {
    Progress.not_started: N_("Work has not begun yet."),
    Progress.in_progress: N_("Work is under way."),
    Progress.on_track: N_("Work is under way and on schedule."),
    Progress.delayed: N_("Work is behind schedule."),
    Progress.completed: N_("Everything pledged has been delivered."),
    Progress.discontinued: N_("The pledge will not be carried on (this closes it)."),
}

# One word for each code. Where two enums share a value (``government``, ``policy``...) they share the word.
WORDS: dict[str, str] = {
    # statuses and closure reasons
    PledgeStatus.in_review: N_("In review"),
    PledgeStatus.changes_requested: N_("Changes requested"),
    PledgeStatus.published: N_("Published"),
    PledgeStatus.report_due: N_("Report due"),
    PledgeStatus.report_overdue: N_("Report overdue"),
    PledgeStatus.non_reporting: N_("Not reporting"),
    PledgeStatus.closed: N_("Closed"),
    ClosureReason.rejected: N_("Rejected"),
    ClosureReason.abandoned: N_("Abandoned"),
    ClosureReason.withdrawn: N_("Withdrawn"),
    ClosureReason.completed: N_("Completed"),
    ClosureReason.ended: N_("Ended"),
    ClosureReason.delisted: N_("Delisted"),
    ClosureReason.removed: N_("Removed"),
    # organisation types (also partner types and funding sources)
    OrganizationType.government: N_("Government"),
    OrganizationType.local_authority: N_("Local authority"),
    OrganizationType.intergovernmental: N_("Intergovernmental"),
    OrganizationType.un_entity: N_("UN entity"),
    OrganizationType.ngo: N_("NGO"),
    OrganizationType.private_sector: N_("Private sector"),
    OrganizationType.academia: N_("Academia"),
    OrganizationType.foundation: N_("Foundation"),
    OrganizationType.other: N_("Other"),
    # pledge types
    PledgeType.financial: N_("Financial"),
    PledgeType.policy: N_("Policy"),
    PledgeType.programmatic: N_("Programmatic"),
    PledgeType.advocacy: N_("Advocacy"),
    # geographic scopes
    GeographicScope.global_: N_("Global"),
    GeographicScope.regional: N_("Regional"),
    GeographicScope.subregional: N_("Subregional"),
    GeographicScope.national: N_("National"),
    GeographicScope.local: N_("Local"),
    # in kind, implementation
    InKind.staff: N_("Staff"),
    InKind.office_space: N_("Office space"),
    InKind.equipment: N_("Equipment"),
    Implementation.education: N_("Education"),
    Implementation.training: N_("Training"),
    Implementation.technology_transfer: N_("Technology transfer"),
    Implementation.institutional_capacity: N_("Institutional capacity"),
    Implementation.financing: N_("Financing"),
    # progress
    Progress.not_started: N_("Not started"),
    Progress.in_progress: N_("In progress"),
    Progress.on_track: N_("On track"),
    Progress.delayed: N_("Delayed"),
    Progress.discontinued: N_("Discontinued"),
    # who acted
    Actor.system: N_("System"),
    Actor.pledger: N_("Pledger"),
    Actor.email: N_("Email"),
    # time frames and region placeholders of the statistics
    "up_to_1y": N_("Up to 1 year"),
    "1_to_3y": N_("1 to 3 years"),
    "3_to_5y": N_("3 to 5 years"),
    "over_5y": N_("Over 5 years"),
    "open_ended": N_("Open-ended"),
    "unspecified": N_("Unspecified"),
}

# What each timeline entry is, in a few words of the reader's language; the entry's own text (recorded by
# the workflow, in English) follows it.
EVENT_TITLES: dict[str, str] = {
    EventKind.submitted: N_("Submitted"),
    EventKind.review_overdue: N_("Review overdue"),
    EventKind.review_escalated: N_("Review escalated"),
    EventKind.approval_recorded: N_("Approval recorded"),
    EventKind.approved: N_("Approved"),
    EventKind.changes_requested: N_("Changes requested"),
    EventKind.revision_reminder: N_("Revision reminder"),
    EventKind.revised: N_("Revised"),
    EventKind.published: N_("Published"),
    EventKind.cycles_missed: N_("Reporting cycles missed"),
    EventKind.report_requested: N_("Report requested"),
    EventKind.final_report_requested: N_("Final report requested"),
    EventKind.reminder_sent: N_("Reminder sent"),
    EventKind.report_overdue: N_("Report overdue"),
    EventKind.non_reporting: N_("Not reporting"),
    EventKind.report_received: N_("Report received"),
    EventKind.final_report_received: N_("Final report received"),
    EventKind.report_added: N_("Addition to a report"),
    EventKind.progress_update: N_("Progress update"),
    EventKind.reply_not_counted: N_("Reply not counted"),
    EventKind.extension_requested: N_("Extension requested"),
    EventKind.extension_granted: N_("Extension granted"),
    EventKind.extension_refused: N_("Extension refused"),
    EventKind.email_sent: N_("Email sent"),
    EventKind.email_unconfirmed: N_("Email not confirmed"),
    EventKind.email_skipped: N_("Email not sent"),
    EventKind.registry_behind: N_("Registry not updated"),
    EventKind.email_failed: N_("Email failed"),
    EventKind.rejected: N_("Rejected"),
    EventKind.abandoned: N_("Abandoned"),
    EventKind.withdrawn: N_("Withdrawn"),
    EventKind.completed: N_("Completed"),
    EventKind.ended: N_("Ended"),
    EventKind.delisted: N_("Delisted"),
    EventKind.removed: N_("Removed"),
}

ORGANIZATION_TYPES = list(OrganizationType)
PLEDGE_TYPES = list(PledgeType)
SCOPES = list(GeographicScope)
FUNDING_SOURCES = list(FundingSource)
IN_KIND = list(InKind)
IMPLEMENTATION = list(Implementation)
PROGRESS = list(Progress)
PUBLIC_STATUSES = list(PublicStatus)

NARRATIVE_MIN = NARRATIVE_MIN_CHARS
NARRATIVE_MAX = NARRATIVE_MAX_CHARS


def label(code: object) -> str:
    """The English word for a code (the ``label`` filter translates it); an unknown code as it is."""
    if code is None:
        return ""
    text = str(code.value if hasattr(code, "value") else code)
    return WORDS.get(text, text.replace("_", " ").capitalize())


def event_title(kind: str) -> str:
    return EVENT_TITLES.get(kind, kind.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Badge:
    """A status as a traffic light, always with words and a shape so colour is never the only signal."""

    light: TrafficLight
    status: str
    closure_reason: str | None
    symbol: str


_SYMBOLS = {TrafficLight.green: "●", TrafficLight.yellow: "▲", TrafficLight.red: "■", TrafficLight.grey: "○"}


def badge(status: str, closure_reason: str | None = None) -> Badge:
    public = public_status(status)
    light = TRAFFIC_LIGHTS[public] if public is not None else TrafficLight.grey
    reason = closure_reason if status == PledgeStatus.closed.value else None
    return Badge(light=light, status=status, closure_reason=reason, symbol=_SYMBOLS[light])
