"""Each public pledge's export record, kept on its registry row so an export streams stored text.

Building the public shape (reading the submission, withholding contacts, pydantic) costs far more per
pledge than reading text, so the projection writes it with the row (``Pledge.public_json`` and
``Pledge.public_csv``) and the exports (pledgeflow/registry/export.py) only add what depends on the
request: the links, which are made from the server's public base URL. A row never public has neither.

A change to what the public shape or a CSV row holds must come with a migration that writes the records
of existing rows again (:func:`public_records`, as migration 0005 does).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from pledgeflow.core import links
from pledgeflow.core.models import Pledge
from pledgeflow.registry.public import PublicLinks, PublicPledge, api_url, public_pledge, public_status

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
PAGE = CSV_COLUMNS.index("page")
LIST_SEPARATOR = "; "
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """The cell as text a spreadsheet displays rather than evaluates."""
    return f"'{cell}" if cell.startswith(_FORMULA_START) else cell


def csv_cells(pledge: PublicPledge) -> list[str]:
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


def csv_text(cells: list[str]) -> str:
    """One RFC 4180 line of inert cells, ending in CRLF."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([inert(cell) for cell in cells])
    return buffer.getvalue()


def public_records(row: Pledge) -> tuple[str | None, str | None]:
    """The row's ``public_json`` and ``public_csv``; (None, None) while it has never been public.

    ``public_json`` is the public shape as JSON without its links (the last field). ``public_csv`` is a
    JSON pair of CSV text: the line up to the page cell, with its separator, and the line after it. Each
    half is written with an empty cell in the page's place, so the writer quotes every cell as it would in
    the whole line.
    """
    if row.published_at is None or public_status(row.status) is None:
        return None, None
    pledge = public_pledge(row, "")
    cells = csv_cells(pledge)
    head = csv_text([*cells[:PAGE], ""]).removesuffix("\r\n")
    tail = csv_text(["", *cells[PAGE + 1 :]])
    return pledge.model_dump_json(exclude={"links"}), json.dumps([head, tail], ensure_ascii=False)


class Links:
    """The request's part of a stored record: each pledge's page and API links under ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="")

    def json_record(self, pledge_id: str, public_json: str) -> str:
        """The pledge as export.json emits it: the stored record with its links as its last field."""
        page = links.pledge_page(self.base_url, pledge_id)
        shown = PublicLinks(page=page, api=api_url(self.base_url, pledge_id)).model_dump_json()
        return f'{public_json[:-1]},"links":{shown}}}'

    def page_json(self, records: Iterable[tuple[str, str]], next_cursor: str | None) -> str:
        """A page of the search (``PledgePage``) as JSON, from its pledges' (id, ``public_json``)."""
        items = ",".join(self.json_record(pledge_id, public_json) for pledge_id, public_json in records)
        return f'{{"items":[{items}],"next_cursor":{json.dumps(next_cursor)}}}'

    def csv_line(self, pledge_id: str, public_csv: str) -> str:
        """The pledge's CSV line: the stored text around its page cell."""
        head, tail = json.loads(public_csv)
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow([inert(links.pledge_page(self.base_url, pledge_id))])
        return f"{head}{self._buffer.getvalue()}{tail}"
