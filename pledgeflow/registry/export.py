"""Open data: the whole public registry as CSV or JSON, streamed row by row from the registry's keyset
walk (``registry_search.iter_public``), and an Atom feed of the newest publications."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence

from pledgeflow.core import links
from pledgeflow.core.models import Pledge
from pledgeflow.registry.public import PublicPledge, api_url, public_pledge

CSV_COLUMNS = [
    "id",
    "title",
    "status",
    "traffic_light",
    "closure_reason",
    "pledge_type",
    "organization_name",
    "organization_type",
    "organization_country",
    "partners",
    "sdgs",
    "sdg_targets",
    "geographic_scope",
    "countries",
    "regions",
    "start_date",
    "end_date",
    "open_ended",
    "financial_usd",
    "funding_sources",
    "in_kind",
    "implementation",
    "deliverables",
    "website",
    "published_at",
    "last_report_at",
    "missed_cycles",
    "page",
    "description",
]
LIST_SEPARATOR = "; "
ROWS_PER_CHUNK = 200
ATOM = "http://www.w3.org/2005/Atom"
SUMMARY_CHARS = 400
# Characters XML 1.0 cannot carry even escaped; a pledge text containing one must not break the feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _public(rows: Iterable[Pledge], base_url: str) -> Iterator[PublicPledge]:
    for row in rows:
        yield public_pledge(row, base_url)


def _csv_row(pledge: PublicPledge) -> list[str]:
    return [
        pledge.id,
        pledge.title,
        pledge.status.value,
        pledge.traffic_light.value,
        pledge.closure_reason or "",
        pledge.pledge_type.value,
        pledge.organization.name,
        pledge.organization.type.value,
        pledge.organization.country,
        LIST_SEPARATOR.join(partner.name for partner in pledge.partners),
        LIST_SEPARATOR.join(str(sdg) for sdg in pledge.sdgs),
        LIST_SEPARATOR.join(pledge.sdg_targets),
        pledge.geographic_scope.value,
        LIST_SEPARATOR.join(pledge.countries),
        LIST_SEPARATOR.join(pledge.regions),
        pledge.start_date.isoformat(),
        pledge.end_date.isoformat() if pledge.end_date else "",
        "true" if pledge.open_ended else "false",
        repr(pledge.resources.financial_usd),
        LIST_SEPARATOR.join(pledge.resources.funding_sources),
        LIST_SEPARATOR.join(pledge.resources.in_kind),
        LIST_SEPARATOR.join(pledge.implementation),
        LIST_SEPARATOR.join(f"{d.title} (due {d.due_date.isoformat()})" for d in pledge.deliverables),
        pledge.website or "",
        pledge.published_at.isoformat(),
        pledge.last_report_at.isoformat() if pledge.last_report_at else "",
        str(pledge.missed_cycles),
        pledge.links.page,
        pledge.description,
    ]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: str) -> str:
    """The cell as text a spreadsheet displays rather than evaluates."""
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell


def _chunks(lines: Iterable[list[str]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for count, line in enumerate(lines, start=1):
        writer.writerow([_inert(cell) for cell in line])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def export_csv(rows: Iterable[Pledge], base_url: str) -> Iterator[bytes]:
    """RFC 4180 CSV with a header row; list fields joined with '; '."""
    yield from _chunks([CSV_COLUMNS])
    yield from _chunks(_csv_row(pledge) for pledge in _public(rows, base_url))


def export_json(rows: Iterable[Pledge], base_url: str) -> Iterator[bytes]:
    """A JSON array of public pledges, ``ROWS_PER_CHUNK`` pledges per chunk.

    A server hands each chunk of a synchronous body from a worker thread: a chunk per pledge would cost
    a thread hop per pledge, which at 100,000 pledges is most of the download's time.
    """
    parts: list[bytes] = [b"["]
    for index, pledge in enumerate(_public(rows, base_url)):
        parts.append((b",\n" if index else b"\n") + pledge.model_dump_json().encode())
        if len(parts) >= ROWS_PER_CHUNK:
            yield b"".join(parts)
            parts = []
    parts.append(b"\n]\n")
    yield b"".join(parts)


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
    element.text = _NOT_XML.sub("", text)
    return element


def _summary(pledge: PublicPledge) -> str:
    sdgs = ", ".join(str(sdg) for sdg in pledge.sdgs)
    where = ", ".join(pledge.countries) or pledge.geographic_scope.value
    head = f"{pledge.organization.name} ({pledge.organization.type.value}) pledges for SDG {sdgs} in {where}. "
    description = pledge.description
    if len(description) > SUMMARY_CHARS:
        description = description[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " …"
    return head + description


def atom_feed(rows: Sequence[Pledge], base_url: str, now: dt.datetime) -> bytes:
    """Atom (RFC 4287): one entry per publication, newest first; ElementTree escapes every text."""
    ET.register_namespace("", ATOM)
    base = base_url.rstrip("/")
    self_url = f"{base}/api/v1/registry/feed.atom"
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", self_url)
    _text(feed, "title", "Pledgeflow registry: new pledges")
    _text(feed, "subtitle", "Pledges newly published in the public registry.")
    newest = max((row.published_at for row in rows if row.published_at), default=now)
    _text(feed, "updated", newest.isoformat())
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": self_url, "type": "application/atom+xml"})
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "href": f"{base}/registry", "type": "text/html"})
    _text(ET.SubElement(feed, f"{{{ATOM}}}author"), "name", "Pledgeflow")
    for row in rows:
        pledge = public_pledge(row, base_url)
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", links.pledge_page(base_url, pledge.id))
        _text(entry, "title", pledge.title)
        _text(entry, "published", pledge.published_at.isoformat())
        _text(entry, "updated", pledge.published_at.isoformat())
        ET.SubElement(entry, f"{{{ATOM}}}link", {"rel": "alternate", "href": pledge.links.page, "type": "text/html"})
        related = {"rel": "related", "href": api_url(base_url, pledge.id), "type": "application/json"}
        ET.SubElement(entry, f"{{{ATOM}}}link", related)
        _text(ET.SubElement(entry, f"{{{ATOM}}}author"), "name", pledge.organization.name)
        for sdg in pledge.sdgs:
            ET.SubElement(entry, f"{{{ATOM}}}category", {"term": f"SDG {sdg}"})
        _text(entry, "summary", _summary(pledge), type="text")
    document: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
