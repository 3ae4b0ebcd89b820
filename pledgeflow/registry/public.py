"""What the public registry shows of a pledge, and how a registry row becomes it.

The shapes are built field by field from an allow-list: the submission's contacts (focal point, backup
contact) are never copied, and e-mail addresses and phone numbers typed into any free text (titles,
descriptions, organisation, partner and region names, deliverables, reports, timeline) are withheld, so no
contact reaches public output whatever the pledger wrote. Phone numbers are found by Google's
libphonenumber rules (the ``phonenumberslite`` port): written internationally (+254 20 2712345), or in the
national way of the pledging organisation's country (0722 123 456 for a Kenyan one), and only when valid
there, so years, amounts and dates stay as they were written.
"""

from __future__ import annotations

import datetime as dt
import re
from enum import StrEnum
from functools import lru_cache
from typing import Any

from iso3166 import countries_by_alpha3
from phonenumbers import Leniency, PhoneNumberMatcher
from pydantic import BaseModel, Field

from pledgeflow.core import links
from pledgeflow.core.models import Pledge, Report, TimelineEntry
from workflows.state import PledgeStatus
from workflows.submission import (
    DeliverableProgress,
    FundingSource,
    GeographicScope,
    Implementation,
    InKind,
    OrganizationType,
    PledgeType,
    Progress,
)


class PublicStatus(StrEnum):
    """The statuses a pledge can have once it has been published; the only ones the registry shows."""

    published = PledgeStatus.published.value
    report_due = PledgeStatus.report_due.value
    report_overdue = PledgeStatus.report_overdue.value
    non_reporting = PledgeStatus.non_reporting.value
    closed = PledgeStatus.closed.value


# The statuses of vetting: a pledge in one has never been published, and the registry never shows it.
NEVER_PUBLIC = frozenset(PledgeStatus) - set(PublicStatus)


def public_status(status: str) -> PublicStatus | None:
    """The registry status a pledge's status shows as; None for a status the registry never shows."""
    try:
        return PublicStatus(status)
    except ValueError:
        return None


class TrafficLight(StrEnum):
    green = "green"
    yellow = "yellow"
    red = "red"
    grey = "grey"


TRAFFIC_LIGHTS = {
    PublicStatus.published: TrafficLight.green,
    PublicStatus.report_due: TrafficLight.green,
    PublicStatus.report_overdue: TrafficLight.yellow,
    PublicStatus.non_reporting: TrafficLight.red,
    PublicStatus.closed: TrafficLight.grey,
}
# For the API schema: "green: published or report_due; yellow: ...", read from the map above.
TRAFFIC_LIGHTS_IN_WORDS = "; ".join(
    f"{light}: " + " or ".join(status for status, shown in TRAFFIC_LIGHTS.items() if shown == light)
    for light in dict.fromkeys(TRAFFIC_LIGHTS.values())
)

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
EMAIL_WITHHELD = "[e-mail withheld]"
PHONE_WITHHELD = "[phone withheld]"
# Seven digits or more in one run of digits, spaces, dots, dashes and brackets: the only text worth handing
# to the (much slower) phone number matcher.
_MAYBE_PHONE = re.compile(r"\+?\(?\d(?:[\s().\-/]{0,3}\d){6,}")


def withhold_contacts(text: str, country: str | None = None) -> str:
    """``text`` with e-mail addresses and phone numbers withheld; ``country`` (alpha-3) is where national
    numbers are read as the pledging organisation writes them."""
    text = _EMAIL.sub(EMAIL_WITHHELD, text)
    if not _MAYBE_PHONE.search(text):
        return text
    return _withhold_phones(text, _region(country))


@lru_cache(maxsize=1024)
def _withhold_phones(text: str, region: str) -> str:
    for match in reversed(list(PhoneNumberMatcher(text, region, leniency=Leniency.VALID))):
        text = text[: match.start] + PHONE_WITHHELD + text[match.end :]
    return text


def _region(country: str | None) -> str:
    """The region code libphonenumber reads national numbers by ("ZZ": international numbers only)."""
    found = countries_by_alpha3.get((country or "").upper())
    return found.alpha2 if found is not None else "ZZ"


def api_url(base: str, pledge_id: str) -> str:
    return f"{base.rstrip('/')}/api/v1/registry/pledges/{pledge_id}"


class PublicOrganization(BaseModel):
    name: str
    type: OrganizationType
    country: str


class PublicPartner(BaseModel):
    name: str
    type: OrganizationType


class PublicDeliverable(BaseModel):
    title: str
    due_date: dt.date


class PublicResources(BaseModel):
    financial_usd: float
    funding_sources: list[FundingSource]
    in_kind: list[InKind]


class PublicLinks(BaseModel):
    page: str
    api: str


class PublicPledge(BaseModel):
    """A published pledge as anyone may read it: no contacts."""

    id: str
    title: str
    description: str
    pledge_type: PledgeType
    organization: PublicOrganization
    partners: list[PublicPartner]
    sdgs: list[int]
    sdg_targets: list[str]
    geographic_scope: GeographicScope
    countries: list[str]
    regions: list[str]
    start_date: dt.date
    end_date: dt.date | None
    open_ended: bool
    deliverables: list[PublicDeliverable]
    resources: PublicResources
    implementation: list[Implementation]
    website: str | None
    status: PublicStatus
    traffic_light: TrafficLight = Field(description=TRAFFIC_LIGHTS_IN_WORDS)
    closure_reason: str | None
    closure_note: str | None
    published_at: dt.datetime
    last_report_at: dt.datetime | None
    next_deadline: dt.datetime | None
    reporting_cycle: int
    missed_cycles: int
    links: PublicLinks


def public_pledge(row: Pledge, base_url: str) -> PublicPledge:
    """The public view of a registry row; the caller guarantees the row is public (published once)."""
    submission: dict[str, Any] = row.submission
    status = PublicStatus(row.status)
    assert row.published_at is not None

    def public(text: str) -> str:
        return withhold_contacts(text, row.organization_country)

    return PublicPledge(
        id=row.id,
        title=public(row.title),
        description=public(submission["description"]),
        pledge_type=PledgeType(row.pledge_type),
        organization=PublicOrganization(
            name=public(row.organization_name),
            type=OrganizationType(row.organization_type),
            country=row.organization_country,
        ),
        partners=[PublicPartner(name=public(p["name"]), type=p["type"]) for p in submission.get("partners", [])],
        sdgs=list(submission["sdgs"]),
        sdg_targets=list(submission.get("sdg_targets", [])),
        geographic_scope=GeographicScope(row.geographic_scope),
        countries=list(submission.get("countries", [])),
        regions=[public(region) for region in submission.get("regions", [])],
        start_date=row.start_date,
        end_date=row.end_date,
        open_ended=row.open_ended,
        deliverables=[
            PublicDeliverable(title=public(d["title"]), due_date=d["due_date"])
            for d in submission.get("deliverables", [])
        ],
        resources=PublicResources(
            financial_usd=row.financial_usd,
            funding_sources=submission.get("resources", {}).get("funding_sources", []),
            in_kind=submission.get("resources", {}).get("in_kind", []),
        ),
        implementation=submission.get("implementation", []),
        website=submission.get("website"),
        status=status,
        traffic_light=TRAFFIC_LIGHTS[status],
        closure_reason=row.closure_reason,
        closure_note=public(row.closure_note) if row.closure_note else None,
        published_at=row.published_at,
        last_report_at=row.last_report_at,
        next_deadline=row.next_deadline if status != PublicStatus.closed else None,
        reporting_cycle=row.cycle,
        missed_cycles=row.missed_cycles,
        links=PublicLinks(page=links.pledge_page(base_url, row.id), api=api_url(base_url, row.id)),
    )


class PublicReport(BaseModel):
    cycle: int
    received_at: dt.datetime
    source: str
    final: bool
    progress: Progress
    narrative: str
    deliverables: list[DeliverableProgress]
    resources_mobilized_usd: float | None
    beneficiaries_reached: int | None
    partners_added: list[PublicPartner]
    links: list[str]


def public_report(row: Report, country: str | None = None) -> PublicReport:
    """``country``: the pledging organisation's, for the phone numbers written in its national way."""
    details: dict[str, Any] = row.details

    def public(text: str) -> str:
        return withhold_contacts(text, country)

    return PublicReport(
        cycle=row.cycle,
        received_at=row.received_at,
        source=row.source,
        final=row.final,
        progress=Progress(row.progress),
        narrative=public(row.narrative),
        deliverables=[
            DeliverableProgress(
                deliverable=public(d["deliverable"]),
                percent_complete=d["percent_complete"],
                note=public(d["note"]) if d.get("note") else None,
            )
            for d in details.get("deliverables", [])
        ],
        resources_mobilized_usd=details.get("resources_mobilized_usd"),
        beneficiaries_reached=details.get("beneficiaries_reached"),
        partners_added=[
            PublicPartner(name=public(p["name"]), type=p["type"]) for p in details.get("partners_added", [])
        ],
        links=[str(link) for link in details.get("links", [])],
    )


class PublicTimelineEntry(BaseModel):
    at: dt.datetime
    actor: str = Field(description="system, pledger, staff or email; staff members are not named publicly")
    kind: str
    message: str
    status: str


def public_timeline_entry(row: TimelineEntry, country: str | None = None) -> PublicTimelineEntry:
    return PublicTimelineEntry(
        at=row.at,
        actor=row.actor.split(":", 1)[0],
        kind=row.kind,
        message=withhold_contacts(row.message, country),
        status=row.status,
    )


class PledgePage(BaseModel):
    items: list[PublicPledge]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class PledgeDetail(BaseModel):
    pledge: PublicPledge
    reports: list[PublicReport]
    timeline: list[PublicTimelineEntry]


class RelatedPledge(BaseModel):
    pledge: PublicPledge
    score: int = Field(description="1 per shared SDG, 2 per shared country, 3 per shared partner link")
    reason: str
    shared_sdgs: list[int]
    shared_countries: list[str]
    shared_partners: list[str]


class RelatedPledges(BaseModel):
    pledge_id: str
    items: list[RelatedPledge]
