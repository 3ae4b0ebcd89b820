"""Open data as IATI 2.03 (docs/open-data.md): every public pledge as an activity, so it reaches the
aid-transparency tools that already read the International Aid Transparency Initiative's standard.

A pledge is an ``iati-activity``: its organisation the accountable participating org and its partners the
implementing ones, its SDGs and targets as ``tag`` (vocabularies 2 and 3), its countries (ISO 3166-1 alpha-2,
as IATI codes them) and regions, its pledged USD as one budget, its reports as results. Streamed activity by
activity, reading the reports of a batch of pledges at a time. Contacts are never included, as in every
public output. Valid against the IATI 2.03 schema (tests/data/iati-2.03, checked in tests/api).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import pycountry
from sqlmodel import col, select

from pledgeflow.core.db import session_for
from pledgeflow.core.models import Pledge, Report
from pledgeflow.registry.public import PublicPledge, public_pledge, withhold_contacts
from workflows.submission import GeographicScope, OrganizationType, Progress

VERSION = "2.03"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BATCH = 200
# Characters XML 1.0 cannot carry even escaped; a pledge's text containing one must not break the file.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# IATI codelists (iatistandard.org/en/iati-standard/203/codelists/), as this registry's words map onto them.
ORGANISATION_TYPE = {  # OrganisationType
    OrganizationType.government: "10",
    OrganizationType.local_authority: "11",
    OrganizationType.intergovernmental: "40",
    OrganizationType.un_entity: "40",
    OrganizationType.ngo: "21",
    OrganizationType.private_sector: "70",
    OrganizationType.academia: "80",
    OrganizationType.foundation: "60",
    OrganizationType.other: "90",
}
ACTIVITY_SCOPE = {  # ActivityScope
    GeographicScope.global_: "1",
    GeographicScope.regional: "2",
    GeographicScope.subregional: "3",
    GeographicScope.national: "4",
    GeographicScope.local: "7",
}
ACTIVITY_STATUS = {  # ActivityStatus, by closure reason; an open pledge is in implementation (2)
    "completed": "4",
    "ended": "4",
    "withdrawn": "5",
    "removed": "5",
    "delisted": "6",
}
ROLE_ACCOUNTABLE, ROLE_IMPLEMENTING = "2", "4"  # OrganisationRole
DATE_PLANNED_START, DATE_ACTUAL_START, DATE_PLANNED_END, DATE_ACTUAL_END = "1", "2", "3", "4"  # ActivityDateType
TAG_SDG_GOAL, TAG_SDG_TARGET = "2", "3"  # TagVocabulary
BUDGET_ORIGINAL, BUDGET_INDICATIVE = "1", "1"  # BudgetType, BudgetStatus
RESULT_OTHER = "9"  # ResultType
MEASURE_PERCENTAGE, MEASURE_QUALITATIVE = "2", "5"  # IndicatorMeasure
DOCUMENT_WEB_PAGE = "A12"  # DocumentCategory: activity web page
OTHER_ID_INTERNAL = "A1"  # OtherIdentifierType: reporting organisation's internal activity identifier
REGION_OWN_VOCABULARY = "99"  # RegionVocabulary: the reporting organisation's own


@dataclass(frozen=True)
class Publisher:
    """The organisation that publishes the registry (IATI's reporting org), from settings."""

    ref: str  # its organisation identifier (org-id.guide), which prefixes every activity identifier
    name: str
    type: str  # an OrganisationType code


def alpha2(alpha3: str) -> str | None:
    country = pycountry.countries.get(alpha_3=alpha3)
    return country.alpha_2 if country is not None else None


def reports_by_pledge(database_url: str, pledge_ids: Sequence[str]) -> dict[str, list[Report]]:
    """The reports of these pledges, oldest first, in one query."""
    found: dict[str, list[Report]] = {pledge_id: [] for pledge_id in pledge_ids}
    with session_for(database_url) as session:
        query = select(Report).where(col(Report.pledge_id).in_(pledge_ids))
        for report in session.exec(query.order_by(col(Report.received_at), col(Report.id))):
            found[report.pledge_id].append(report)
        session.expunge_all()
    return found


def iati_activities(
    rows: Iterable[Pledge], database_url: str, base_url: str, publisher: Publisher, now: dt.datetime
) -> Iterator[bytes]:
    """The ``iati-activities`` document, one activity per public pledge in the registry's order."""
    yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<iati-activities version="{VERSION}" generated-datetime="{_moment(now)}">\n'.encode()
    rows = iter(rows)
    while batch := list(islice(rows, BATCH)):
        reports = reports_by_pledge(database_url, [row.id for row in batch])
        activities = (_activity(row, public_pledge(row, base_url), reports[row.id], publisher, now) for row in batch)
        # One chunk per batch: each chunk of a synchronous body costs the server a thread hop.
        yield "".join(ET.tostring(activity, encoding="unicode") + "\n" for activity in activities).encode()
    yield b"</iati-activities>\n"


def _activity(
    row: Pledge, pledge: PublicPledge, reports: list[Report], publisher: Publisher, now: dt.datetime
) -> ET.Element:
    activity = ET.Element(
        "iati-activity",
        {"last-updated-datetime": _moment(row.updated_at), XML_LANG: "en", "default-currency": "USD", "hierarchy": "1"},
    )
    _text(activity, "iati-identifier", f"{publisher.ref}-{pledge.id}")
    _narrative(ET.SubElement(activity, "reporting-org", {"ref": publisher.ref, "type": publisher.type}), publisher.name)
    _narrative(ET.SubElement(activity, "title"), pledge.title)
    _narrative(ET.SubElement(activity, "description", {"type": "1"}), pledge.description)
    organization = pledge.organization
    accountable = {"role": ROLE_ACCOUNTABLE, "type": ORGANISATION_TYPE[organization.type]}
    _narrative(ET.SubElement(activity, "participating-org", accountable), organization.name)
    for partner in pledge.partners:
        implementing = {"role": ROLE_IMPLEMENTING, "type": ORGANISATION_TYPE[partner.type]}
        _narrative(ET.SubElement(activity, "participating-org", implementing), withhold_contacts(partner.name))
    other = ET.SubElement(activity, "other-identifier", {"ref": pledge.id, "type": OTHER_ID_INTERNAL})
    _narrative(ET.SubElement(other, "owner-org", {"ref": publisher.ref}), publisher.name)
    ET.SubElement(activity, "activity-status", {"code": ACTIVITY_STATUS.get(pledge.closure_reason or "", "2")})
    started = DATE_ACTUAL_START if pledge.start_date <= now.date() else DATE_PLANNED_START
    ET.SubElement(activity, "activity-date", {"type": started, "iso-date": pledge.start_date.isoformat()})
    if pledge.end_date is not None:
        ended = DATE_ACTUAL_END if pledge.closure_reason in ("completed", "ended") else DATE_PLANNED_END
        ET.SubElement(activity, "activity-date", {"type": ended, "iso-date": pledge.end_date.isoformat()})
    ET.SubElement(activity, "activity-scope", {"code": ACTIVITY_SCOPE[pledge.geographic_scope]})
    for code in filter(None, map(alpha2, pledge.countries)):
        ET.SubElement(activity, "recipient-country", {"code": code})
    for region in pledge.regions:
        own = {"code": _code(region), "vocabulary": REGION_OWN_VOCABULARY}
        _narrative(ET.SubElement(activity, "recipient-region", own), withhold_contacts(region))
    for sdg in pledge.sdgs:
        _narrative(ET.SubElement(activity, "tag", {"vocabulary": TAG_SDG_GOAL, "code": str(sdg)}), f"SDG {sdg}")
    for target in pledge.sdg_targets:
        ET.SubElement(activity, "tag", {"vocabulary": TAG_SDG_TARGET, "code": target})
    if pledge.resources.financial_usd > 0:
        _budget(activity, pledge)
    link = ET.SubElement(activity, "document-link", {"format": "text/html", "url": pledge.links.page})
    _narrative(ET.SubElement(link, "title"), f"{pledge.title}: the pledge in the public registry")
    ET.SubElement(link, "category", {"code": DOCUMENT_WEB_PAGE})
    since = pledge.published_at
    for report in reports:
        _result(activity, report, since)
        since = report.received_at
    return activity


def _budget(activity: ET.Element, pledge: PublicPledge) -> None:
    """The pledged amount as one original, indicative budget over the pledge's period; IATI asks for a
    bounded period, so an open-ended pledge's ends a year after its start."""
    end = pledge.end_date or _year_after(pledge.start_date)
    budget = ET.SubElement(activity, "budget", {"type": BUDGET_ORIGINAL, "status": BUDGET_INDICATIVE})
    ET.SubElement(budget, "period-start", {"iso-date": pledge.start_date.isoformat()})
    ET.SubElement(budget, "period-end", {"iso-date": end.isoformat()})
    value = {"currency": "USD", "value-date": pledge.published_at.date().isoformat()}
    _text(budget, "value", _decimal(pledge.resources.financial_usd), **value)


def _result(activity: ET.Element, report: Report, since: dt.datetime) -> None:
    """A progress report: its progress as a qualitative indicator, each deliverable's completion as a
    percentage one, over the time since the report before it (or since publication)."""
    result = ET.SubElement(activity, "result", {"type": RESULT_OTHER})
    kind = "Final report" if report.final else f"Progress report for cycle {report.cycle}"
    _narrative(ET.SubElement(result, "title"), f"{kind}, {report.received_at:%Y-%m-%d}")
    _narrative(ET.SubElement(result, "description"), withhold_contacts(report.narrative))
    period = (since.date(), max(since.date(), report.received_at.date()))
    progress = Progress(report.progress).value.replace("_", " ")
    actual = _indicator(result, MEASURE_QUALITATIVE, "Progress of the pledge", period)
    _narrative(ET.SubElement(actual, "comment"), progress)
    for deliverable in report.details.get("deliverables", []):
        title = withhold_contacts(str(deliverable["deliverable"]))
        actual = _indicator(result, MEASURE_PERCENTAGE, f"{title}: percent complete", period, ascending=True)
        actual.set("value", str(int(deliverable["percent_complete"])))
        if deliverable.get("note"):
            _narrative(ET.SubElement(actual, "comment"), withhold_contacts(str(deliverable["note"])))


def _indicator(
    result: ET.Element, measure: str, title: str, period: tuple[dt.date, dt.date], ascending: bool = False
) -> ET.Element:
    """An indicator with one period; returns its ``actual`` element for the caller to fill."""
    attributes = {"measure": measure} | ({"ascending": "1"} if ascending else {})
    indicator = ET.SubElement(result, "indicator", attributes)
    _narrative(ET.SubElement(indicator, "title"), title)
    measured = ET.SubElement(indicator, "period")
    ET.SubElement(measured, "period-start", {"iso-date": period[0].isoformat()})
    ET.SubElement(measured, "period-end", {"iso-date": period[1].isoformat()})
    return ET.SubElement(measured, "actual")


def _narrative(parent: ET.Element, text: str) -> ET.Element:
    return _text(parent, "narrative", text)


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = _NOT_XML.sub("", text)
    return element


def _code(name: str) -> str:
    """A region's own code: its name, lower-case, words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "region"


def _decimal(amount: float) -> str:
    return f"{amount:.2f}".rstrip("0").rstrip(".")


def _moment(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _year_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)
