"""Open data: the whole public registry as CSV or JSON, streamed from the records the projection keeps for
each pledge (pledgeflow/registry/records.py) in the registry's keyset walk
(``registry_search.iter_public_records``), and an Atom feed of the newest publications."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain

from pledgeflow.core import links
from pledgeflow.core.models import Pledge
from pledgeflow.registry.public import PublicPledge, api_url, public_pledge
from pledgeflow.registry.records import CSV_COLUMNS, Links, csv_text

ROWS_PER_CHUNK = 200
ATOM = "http://www.w3.org/2005/Atom"
SUMMARY_CHARS = 400
# Characters XML 1.0 cannot carry even escaped; a pledge text containing one must not break the feed.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _chunks(lines: Iterable[str]) -> Iterator[bytes]:
    parts: list[str] = []
    for line in lines:
        parts.append(line)
        if len(parts) == ROWS_PER_CHUNK:
            yield "".join(parts).encode()
            parts = []
    if parts:
        yield "".join(parts).encode()


def export_csv(records: Iterable[tuple[str, str]], base_url: str) -> Iterator[bytes]:
    """RFC 4180 CSV with a header row; list fields joined with '; '. ``records``: (pledge id, its
    ``public_csv``) in the registry's order."""
    links = Links(base_url)
    yield csv_text(CSV_COLUMNS).encode()
    yield from _chunks(links.csv_line(pledge_id, line) for pledge_id, line in records)


def export_json(records: Iterable[tuple[str, str]], base_url: str) -> Iterator[bytes]:
    """A JSON array of public pledges, ``ROWS_PER_CHUNK`` pledges per chunk. ``records``: (pledge id, its
    ``public_json``) in the registry's order.

    A server hands each chunk of a synchronous body from a worker thread: a chunk per pledge would cost
    a thread hop per pledge, which at 100,000 pledges is most of the download's time.
    """
    links = Links(base_url)
    pledges = (links.json_record(pledge_id, record) for pledge_id, record in records)
    lines = ((",\n" if index else "\n") + pledge for index, pledge in enumerate(pledges))
    yield from _chunks(chain(["["], lines, ["\n]\n"]))


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
