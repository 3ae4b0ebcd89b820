"""Bringing an earlier registry in (``pledgeflow import``, docs/import.md).

Each line of a JSON Lines file (or each row of a CSV file with the documented header) is a pledge: its
submission as ``POST /api/v1/pledges`` takes it, and what the earlier registry knew of its life
(``external_id``, ``submitted_at``, ``published_at``, ``last_report_at``, ``reports``, ``status``,
``closure_reason``). A valid line starts the pledge's workflow on the import start path, which places it on
its ladder (workflows/placement.py); a line that is not valid is rejected with its line number and an error
per field, and nothing of it is started.

Importing is idempotent: a pledge's id is derived from its ``external_id`` (or, without one, from a hash of
the line's content), so the same file twice starts nothing new, and a run stopped half-way (Ctrl-C) is
carried on by running it again.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pledgeflow.temporal.pledge_client import PledgeClient, PledgeError
from workflows.state import ImportedPledge
from workflows.submission import Submission

# The keys a line may have beside the submission's own fields.
HISTORY_KEYS = ("external_id", "submitted_at", "published_at", "last_report_at", "reports", "status", "closure_reason")
EXTERNAL_ID_MAX = 200
DEFAULT_CONCURRENCY = 16
LIST_SEPARATOR = ";"


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


@dataclass(frozen=True)
class Line:
    """One pledge of the input: where it is, what it said, and what it is once checked."""

    number: int  # the input line it starts on, counting from 1 (the CSV header is line 1)
    text: str  # the line as written (a CSV row: its cells as a JSON object)
    submission: Submission | None = None
    imported: ImportedPledge | None = None
    errors: tuple[FieldError, ...] = ()


class Outcome(StrEnum):
    imported = "imported"  # its workflow started now
    already = "already"  # an earlier import of the same key started it
    rejected = "rejected"  # the line is not a valid pledge: nothing started
    failed = "failed"  # valid, but Temporal could not be asked (unreachable, say): run the import again


@dataclass(frozen=True)
class Result:
    line: Line
    outcome: Outcome
    pledge_id: str | None = None
    detail: str = ""


@dataclass
class Summary:
    results: list[Result] = field(default_factory=list)
    interrupted: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome == outcome)

    def of(self, outcome: Outcome) -> list[Result]:
        return sorted((r for r in self.results if r.outcome == outcome), key=lambda r: r.line.number)


class InputError(Exception):
    """The file as a whole cannot be read as an import (an unknown format or CSV column); nothing is started."""


# --- reading the input ------------------------------------------------------------------------------


def read(path: Path, now: dt.datetime, notify: bool = False) -> list[Line]:
    """Every pledge of the file, checked: JSON Lines (``.jsonl``, ``.ndjson``) or CSV (``.csv``)."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        raw = _json_lines(path)
    elif suffix == ".csv":
        raw = _csv_rows(path)
    else:
        raise InputError(f"{path.name}: give a .jsonl or a .csv file (see docs/import.md)")
    return [_checked(number, text, data, now, notify) for number, text, data in raw]


def _json_lines(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | FieldError]]:
    with path.open(encoding="utf-8-sig", newline="") as lines:
        for number, text in enumerate(lines, start=1):
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, text, FieldError("line", f"not JSON: {exc.msg} at column {exc.colno}")
                continue
            if not isinstance(data, dict):
                yield number, text, FieldError("line", "must be a JSON object, one pledge per line")
                continue
            yield number, text, data


def _checked(number: int, text: str, data: dict[str, Any] | FieldError, now: dt.datetime, notify: bool) -> Line:
    if isinstance(data, FieldError):
        return Line(number, text, errors=(data,))
    errors: list[FieldError] = []
    submission_data = {key: value for key, value in data.items() if key not in HISTORY_KEYS}
    history = {key: data[key] for key in HISTORY_KEYS if key in data and data[key] not in (None, "")}
    submission = imported = None
    try:
        submission = Submission.model_validate(submission_data)
    except ValidationError as exc:
        errors += _field_errors(exc)
    key = _key(history.pop("external_id", None), data)
    if isinstance(key, FieldError):
        errors.append(key)
    else:
        submitted = history.pop("submitted_at", history.get("published_at", now))
        try:
            imported = ImportedPledge.model_validate(
                {"key": key, "submitted_at": submitted, "notify": notify, **history}
            )
        except ValidationError as exc:
            errors += _field_errors(exc)
    if imported is not None:
        errors += _not_in_future(imported, now)
    if errors:
        return Line(number, text, errors=tuple(errors))
    return Line(number, text, submission=submission, imported=imported)


def _key(external_id: object, data: dict[str, Any]) -> str | FieldError:
    """What makes a pledge the same pledge on a second import: its external id, or its whole content."""
    if external_id is not None:
        text = str(external_id).strip()
        if not text or len(text) > EXTERNAL_ID_MAX or "\x00" in text:
            return FieldError("external_id", f"1 to {EXTERNAL_ID_MAX} characters, no NUL")
        return f"id:{text}"
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _not_in_future(imported: ImportedPledge, now: dt.datetime) -> list[FieldError]:
    moments = {"submitted_at": imported.submitted_at, "published_at": imported.published_at}
    moments["last_report_at"] = imported.last_report_at
    moments |= {f"reports.{i}.received_at": report.received_at for i, report in enumerate(imported.reports)}
    return [FieldError(name, "in the future") for name, at in moments.items() if at is not None and at > now]


_CROSS_FIELD = re.compile(r"^(?:Value error, )?([a-z_.]+): (.+)$", re.DOTALL)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    """Pydantic's errors as the API words them: the field's dotted path and the reason. A rule across fields
    (``countries: required unless ...``) names its field in its message."""
    found = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"])
        match = _CROSS_FIELD.match(message)
        if match and not name:
            name, message = match.group(1), match.group(2)
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        found.append(FieldError(name or "line", message))
    return found


# --- CSV ----------------------------------------------------------------------------------------------

# The documented header (docs/import.md): column → where it goes in the line's JSON object.
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "external_id": ("external_id",),
    "title": ("title",),
    "description": ("description",),
    "pledge_type": ("pledge_type",),
    "organization_name": ("organization", "name"),
    "organization_type": ("organization", "type"),
    "organization_country": ("organization", "country"),
    "focal_point_name": ("focal_point", "name"),
    "focal_point_email": ("focal_point", "email"),
    "focal_point_position": ("focal_point", "position"),
    "backup_contact_name": ("backup_contact", "name"),
    "backup_contact_email": ("backup_contact", "email"),
    "backup_contact_position": ("backup_contact", "position"),
    "partners": ("partners",),
    "sdgs": ("sdgs",),
    "sdg_targets": ("sdg_targets",),
    "geographic_scope": ("geographic_scope",),
    "countries": ("countries",),
    "regions": ("regions",),
    "start_date": ("start_date",),
    "end_date": ("end_date",),
    "open_ended": ("open_ended",),
    "financial_usd": ("resources", "financial_usd"),
    "funding_sources": ("resources", "funding_sources"),
    "in_kind": ("resources", "in_kind"),
    "implementation": ("implementation",),
    "deliverables": ("deliverables",),
    "website": ("website",),
    "submitted_at": ("submitted_at",),
    "published_at": ("published_at",),
    "last_report_at": ("last_report_at",),
    "status": ("status",),
    "closure_reason": ("closure_reason",),
}
CSV_REQUIRED = (
    "title",
    "description",
    "pledge_type",
    "organization_name",
    "organization_type",
    "organization_country",
    "focal_point_name",
    "focal_point_email",
    "sdgs",
    "geographic_scope",
    "start_date",
    "deliverables",
)
_LISTS = {"sdgs", "sdg_targets", "countries", "regions", "funding_sources", "in_kind", "implementation"}
_NAMED_ITEM = re.compile(r"^(.*\S)\s*\(([^()]*)\)$")  # "Ministry of ICT (government)", "200 schools (due 2026-12-31)"


def _csv_rows(path: Path) -> Iterator[tuple[int, str, dict[str, Any] | FieldError]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [name for name in header if name not in CSV_COLUMNS]
        missing = [name for name in CSV_REQUIRED if name not in header]
        if unknown or missing:
            problems = [f"unknown column {name!r}" for name in unknown] + [f"no column {name!r}" for name in missing]
            raise InputError(f"{path.name}: {'; '.join(problems)} (the header is in docs/import.md)")
        start = reader.line_num + 1
        for row in reader:
            cells = {name: (value or "").strip() for name, value in row.items() if name is not None}
            text = json.dumps(cells, ensure_ascii=False)
            if None in row:
                yield start, text, FieldError("line", f"more cells than the header's {len(header)} columns")
            elif any(cells.values()):
                yield start, text, _csv_object(cells)
            start = reader.line_num + 1


def _csv_object(cells: dict[str, str]) -> dict[str, Any] | FieldError:
    data: dict[str, Any] = {}
    for column, text in cells.items():
        if not text:
            continue
        try:
            value = _csv_value(column, text)
        except ValueError as exc:
            return FieldError(column, str(exc))
        *parents, leaf = CSV_COLUMNS[column]
        target = data
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    return data


def _csv_value(column: str, text: str) -> Any:
    if column in _LISTS:
        return [item.strip() for item in text.split(LIST_SEPARATOR) if item.strip()]
    if column == "open_ended":
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise ValueError("true or false")
        return text.lower() in ("true", "yes", "1")
    if column == "partners":
        return [{"name": name, "type": kind} for name, kind in _named_items(text, "Name (type)")]
    if column == "deliverables":
        items = _named_items(text, "Title (due YYYY-MM-DD)")
        return [{"title": title, "due_date": due.removeprefix("due").strip()} for title, due in items]
    return text


def _named_items(text: str, shape: str) -> list[tuple[str, str]]:
    items = []
    for item in (part.strip() for part in text.split(LIST_SEPARATOR)):
        if not item:
            continue
        match = _NAMED_ITEM.match(item)
        if match is None:
            raise ValueError(f"{item!r} is not written {shape!r}; separate items with '{LIST_SEPARATOR}'")
        items.append((match.group(1), match.group(2).strip()))
    return items


# --- starting the workflows ---------------------------------------------------------------------------


async def run(
    pledges: PledgeClient,
    lines: Sequence[Line],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: asyncio.Event | None = None,
    on_result: Callable[[Result], None] = lambda _: None,
) -> Summary:
    """Start every valid line's workflow, ``concurrency`` at a time; after ``stop`` is set, no new one."""
    summary = Summary()
    queue = iter(lines)
    stop = stop or asyncio.Event()

    def done(result: Result) -> None:
        summary.results.append(result)
        on_result(result)

    async def starter() -> None:
        for line in queue:  # every starter takes the next line of the one iterator: each line once
            if stop.is_set():
                summary.interrupted = True
                return
            if line.errors:
                done(Result(line, Outcome.rejected))
                continue
            assert line.submission is not None and line.imported is not None
            try:
                pledge_id, new = await pledges.start_imported(line.submission, line.imported)
            except PledgeError as exc:
                done(Result(line, Outcome.failed, detail=str(exc)))
                continue
            done(Result(line, Outcome.imported if new else Outcome.already, pledge_id))

    await asyncio.gather(*(starter() for _ in range(max(1, concurrency))))
    return summary


def rejected_report_path(path: Path) -> Path:
    return path.with_name(f"{path.name}.rejected.jsonl")


def write_rejected_report(path: Path, summary: Summary) -> Path | None:
    """Beside the input, one JSON line per rejected line: its number, its errors and what it said.
    A report of an earlier run is removed when this run rejects nothing."""
    report = rejected_report_path(path)
    rejected = summary.of(Outcome.rejected)
    if not rejected:
        report.unlink(missing_ok=True)
        return None
    with report.open("w", encoding="utf-8") as out:
        for result in rejected:
            errors = [{"field": error.field, "message": error.message} for error in result.line.errors]
            entry = {"line": result.line.number, "errors": errors, "input": result.line.text}
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return report
