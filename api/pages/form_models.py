"""The submission and report forms, read into the models the API validates with (docs/api.md §1-2)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from api.pages.forms import FieldErrors, FormValues, drop_empty, form_errors, plain_message
from workflows.submission import Language, ProgressReport, Submission, SubmissionInput, cross_field_problems

DELIVERABLE_ROWS = 3
MAX_DELIVERABLE_ROWS = 50
PARTNER_ROWS = 3
MAX_PARTNER_ROWS = 100
REPORT_PARTNER_ROWS = 2


T = TypeVar("T")


@dataclass
class Parsed(Generic[T]):
    model: T | None
    errors: FieldErrors


def row_count(values: FormValues, name: str, default: int, maximum: int) -> int:
    """How many repeated rows the form shows (the "add a row" button asks for one more)."""
    try:
        count = int(values.get(name, str(default)))
    except ValueError:
        count = default
    return max(default, min(count, maximum))


def _contact(values: FormValues, prefix: str) -> dict[str, Any] | None:
    contact = drop_empty({key: values.text(f"{prefix}.{key}") for key in ("name", "email", "position")})
    return contact or None


def _rows_with_index(
    values: FormValues, prefix: str, columns: tuple[str, ...], count: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """Repeated rows (``deliverables.0.title`` ...) and the form row each came from.

    An empty row is left out; a partly filled one is kept, so the model says what it lacks.
    """
    rows: list[dict[str, Any]] = []
    index: list[int] = []
    for number in range(count):
        row = {column: values.get(f"{prefix}.{number}.{column}").strip() for column in columns}
        if any(row.values()):
            rows.append(drop_empty(row))
            index.append(number)
    return rows, index


def _day_or_none(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def _cross_field_errors(data: dict[str, Any], errors: FieldErrors, rows: dict[str, list[int]]) -> None:
    """The rules across fields, judged on whatever parsed, so a form with a bad title and an end date before
    its start says both at once (the model checks them only once every field is valid)."""
    sdgs = [int(sdg) for sdg in data.get("sdgs", []) if str(sdg).isdigit()]
    problems = cross_field_problems(
        sdgs=sdgs,
        sdg_targets=list(data.get("sdg_targets", [])),
        geographic_scope=data.get("geographic_scope"),
        countries=list(data.get("countries", [])),
        start_date=_day_or_none(data.get("start_date")),
        end_date=_day_or_none(data["end_date"]) if "end_date" in data else None,
        open_ended=bool(data.get("open_ended")),
        deliverable_dates=[_day_or_none(row.get("due_date")) for row in data.get("deliverables", [])],
    )
    for problem in problems:
        name = problem.path
        parts = name.split(".")
        if parts[0] == "deliverables":
            parts[1] = str(rows["deliverables"][int(parts[1])])
            name = ".".join(parts)
        error = {"type": problem.code, "ctx": problem.facts, "input": None}
        message = plain_message(error, problem.path, problem.message)
        if message not in errors.of(name):
            errors.add(name, message)


def read_submission(values: FormValues) -> Parsed[SubmissionInput]:
    deliverable_rows = row_count(values, "deliverable_rows", DELIVERABLE_ROWS, MAX_DELIVERABLE_ROWS)
    deliverables, deliverable_index = _rows_with_index(values, "deliverables", ("title", "due_date"), deliverable_rows)
    partner_rows = row_count(values, "partner_rows", PARTNER_ROWS, MAX_PARTNER_ROWS)
    partners, partner_index = _rows_with_index(values, "partners", ("name", "type"), partner_rows)
    data = drop_empty(
        {
            "title": values.text("title"),
            "description": values.text("description"),
            "pledge_type": values.text("pledge_type"),
            "organization": drop_empty(
                {key: values.text(f"organization.{key}") for key in ("name", "type")}
                | {"country": (values.text("organization.country") or "").upper()}
            ),
            "focal_point": _contact(values, "focal_point"),
            "backup_contact": _contact(values, "backup_contact"),
            "partners": partners,
            "sdgs": values.all("sdgs"),
            "sdg_targets": values.words("sdg_targets"),
            "geographic_scope": values.text("geographic_scope"),
            "countries": values.words("countries", upper=True),
            "regions": [region.strip() for region in values.get("regions").split(",") if region.strip()],
            "start_date": values.text("start_date"),
            "end_date": values.text("end_date"),
            "open_ended": values.get("open_ended") == "true",
            "deliverables": deliverables,
            "resources": drop_empty(
                {
                    "financial_usd": values.number("resources.financial_usd"),
                    "funding_sources": values.all("resources.funding_sources"),
                    "in_kind": values.all("resources.in_kind"),
                }
            ),
            "implementation": values.all("implementation"),
            "website": values.text("website"),
            "language": values.text("language") or Language.en.value,
        }
    )
    data.setdefault("organization", {})
    data.setdefault("focal_point", {})
    try:
        return Parsed(SubmissionInput.model_validate(data), FieldErrors())
    except ValidationError as exc:
        rows = {"deliverables": deliverable_index, "partners": partner_index}
        errors = form_errors(exc, rows)
        _cross_field_errors(data, errors, rows)
        return Parsed(None, errors)


def read_report(values: FormValues, deliverables: list[str]) -> Parsed[ProgressReport]:
    """The report; row N of the deliverables is the pledge's deliverable N (named by the pledge, not the form)."""
    progress_rows, progress_index = _rows_with_index(
        values, "deliverables", ("percent_complete", "note"), len(deliverables)
    )
    for row, number in zip(progress_rows, progress_index, strict=True):
        row["deliverable"] = deliverables[number]
    partners, partner_index = _rows_with_index(values, "partners_added", ("name", "type"), REPORT_PARTNER_ROWS)
    data = drop_empty(
        {
            "progress": values.text("progress"),
            "narrative": values.text("narrative"),
            "deliverables": progress_rows,
            "resources_mobilized_usd": values.number("resources_mobilized_usd"),
            "beneficiaries_reached": values.number("beneficiaries_reached"),
            "partners_added": partners,
            "links": values.lines("links"),
        }
    )
    try:
        return Parsed(ProgressReport.model_validate(data), FieldErrors())
    except ValidationError as exc:
        rows = {"deliverables": progress_index, "partners_added": partner_index}
        return Parsed(None, form_errors(exc, rows))


def submission_values(submission: Submission, version: int) -> FormValues:
    """A stored submission as the form's inputs hold it: the revise page starts from the current version."""
    values = FormValues()
    single, multiple = values.single, values.multiple

    def put(name: str, value: object) -> None:
        if value is not None and value != "":
            single[name] = str(value)
            multiple[name] = [str(value)]  # radio buttons read it there

    def put_all(name: str, items: list[str]) -> None:
        multiple[name] = items
        single[name] = items[-1] if items else ""

    put("version", version)
    put("title", submission.title)
    put("description", submission.description)
    put("pledge_type", submission.pledge_type.value)
    put("website", submission.website)
    put("language", submission.language.value)
    put("organization.name", submission.organization.name)
    put("organization.type", submission.organization.type.value)
    put("organization.country", submission.organization.country)
    for prefix, contact in (("focal_point", submission.focal_point), ("backup_contact", submission.backup_contact)):
        if contact is not None:
            put(f"{prefix}.name", contact.name)
            put(f"{prefix}.email", contact.email)
            put(f"{prefix}.position", contact.position)
    for number, partner in enumerate(submission.partners):
        put(f"partners.{number}.name", partner.name)
        put(f"partners.{number}.type", partner.type.value)
    put("partner_rows", max(PARTNER_ROWS, len(submission.partners) + 1))
    put_all("sdgs", [str(sdg) for sdg in submission.sdgs])
    put("sdg_targets", ", ".join(submission.sdg_targets))
    put("geographic_scope", submission.geographic_scope.value)
    put("countries", ", ".join(submission.countries))
    put("regions", ", ".join(submission.regions))
    put("start_date", submission.start_date.isoformat())
    put("end_date", submission.end_date.isoformat() if submission.end_date else None)
    if submission.open_ended:
        put("open_ended", "true")
    for number, deliverable in enumerate(submission.deliverables):
        put(f"deliverables.{number}.title", deliverable.title)
        put(f"deliverables.{number}.due_date", deliverable.due_date.isoformat())
    put("deliverable_rows", max(DELIVERABLE_ROWS, len(submission.deliverables) + 1))
    put("resources.financial_usd", f"{submission.resources.financial_usd:f}".rstrip("0").rstrip("."))
    put_all("resources.funding_sources", [source.value for source in submission.resources.funding_sources])
    put_all("resources.in_kind", [kind.value for kind in submission.resources.in_kind])
    put_all("implementation", [way.value for way in submission.implementation])
    return values
