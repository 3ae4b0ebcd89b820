"""Turning posted HTML forms into the API's models, and the models' errors back into messages by each field.

Field names in the forms are the models' paths (``organization.country``, ``deliverables.0.title``), so
an error pydantic reports at a path lands next to the input of that name. Rules live in the models
(workflows.submission); this module only reshapes text inputs into the models' structure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from pledgeflow import i18n
from pledgeflow.i18n import N_

# Inputs that hold a whole list (one text box or a checkbox group): an error on any item is the input's.
LIST_INPUTS = frozenset(
    {
        "sdgs",
        "sdg_targets",
        "countries",
        "regions",
        "implementation",
        "links",
        "resources.funding_sources",
        "resources.in_kind",
    }
)
# Errors the model reports for the whole submission start with the field they concern ("end_date: ...").
_LEADING_FIELD = re.compile(r"^([a-z_]+(?:\.[a-z_]+)*): (.+)$", re.DOTALL)
_SEPARATORS = re.compile(r"[\s,;]+")


@dataclass
class FormValues:
    """What the person typed, to put back into the form when it is shown again."""

    single: dict[str, str] = field(default_factory=dict)
    multiple: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, form: FormData | None) -> FormValues:
        values = cls()
        if form is None:
            return values
        for name in form:
            items = [item for item in form.getlist(name) if isinstance(item, str)]
            values.multiple[name] = items
            values.single[name] = items[-1] if items else ""
        return values

    def get(self, name: str, default: str = "") -> str:
        return self.single.get(name, default)

    def all(self, name: str) -> list[str]:
        return self.multiple.get(name, [])

    def checked(self, name: str, value: object) -> bool:
        return str(value) in self.all(name)

    def text(self, name: str) -> str | None:
        """The stripped text, or None for an empty input (the model then applies its default or says required)."""
        value = self.get(name).strip()
        return value or None

    def words(self, name: str, upper: bool = False) -> list[str]:
        """A list typed into one box, separated by commas, semicolons, spaces or lines."""
        text = self.get(name)
        items = [item for item in _SEPARATORS.split(text.upper() if upper else text) if item]
        return items

    def lines(self, name: str) -> list[str]:
        return [line.strip() for line in self.get(name).splitlines() if line.strip()]

    def number(self, name: str) -> str | None:
        """A number as typed, without thousands separators ("2,500,000"); the model parses it."""
        text = self.text(name)
        return text.replace(",", "").replace("_", "").replace(" ", "") if text else None


@dataclass(frozen=True)
class Message:
    """A message for a person: an English catalogue message and its facts; the page translates it."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def verbatim(cls, text: str) -> Message:
        """Words from elsewhere (the workflow's refusal, a library): shown as they are, in English."""
        return cls(text.replace("%", "%%"))


@dataclass
class FieldErrors:
    """Messages by input name, plus those that belong to no single input (shown at the top)."""

    by_field: dict[str, list[Message]] = field(default_factory=dict)
    general: list[Message] = field(default_factory=list)

    def add(self, name: str | None, message: Message | str) -> None:
        said = message if isinstance(message, Message) else Message.verbatim(message)
        if name:
            self.by_field.setdefault(name, []).append(said)
        else:
            self.general.append(said)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def of(self, name: str) -> list[Message]:
        return self.by_field.get(name, [])

    def summary(self) -> list[tuple[str | None, Message]]:
        return [(name, message) for name, messages in self.by_field.items() for message in messages] + [
            (None, message) for message in self.general
        ]


# The label of every input, as the form shows it: the error summary names an input by the same words.
FIELD_LABELS: dict[str, str] = {
    "title": N_("Title"),
    "description": N_("Description"),
    "pledge_type": N_("Type of pledge"),
    "website": N_("Website"),
    "language": N_("Language of our emails to you"),
    "name": N_("Name"),
    "type": N_("Type"),
    "country": N_("Country"),
    "email": N_("Email"),
    "position": N_("Position"),
    "sdgs": N_("Sustainable Development Goals"),
    "sdg_targets": N_("SDG targets"),
    "geographic_scope": N_("Geographic scope"),
    "countries": N_("Countries"),
    "regions": N_("Regions"),
    "start_date": N_("Start date"),
    "end_date": N_("End date"),
    "open_ended": N_("Open-ended: the pledge has no end date"),
    "deliverables": N_("Deliverables"),
    "due_date": N_("Due date"),
    "financial_usd": N_("Financial commitment in USD"),
    "funding_sources": N_("Funding sources"),
    "in_kind": N_("In-kind contributions"),
    "implementation": N_("How it will be implemented"),
    "progress": N_("Overall progress"),
    "narrative": N_("What happened this year?"),
    "percent_complete": N_("Percent complete"),
    "note": N_("Note"),
    "resources_mobilized_usd": N_("Resources mobilised (USD)"),
    "beneficiaries_reached": N_("People reached"),
    "links": N_("Links"),
    "reason": N_("Reason"),
    "key": N_("Staff key"),
    "decision": N_("Your decision"),
}
# Labels that depend on where the input sits: a deliverable's own title is "What" on its row, and the
# note of a vetting decision is written to the pledger.
_PATH_LABELS = {"deliverables.title": N_("What"), "note": N_("Note to the pledger")}
_GROUPS = {
    "organization": N_("Your organisation"),
    "focal_point": N_("Focal point"),
    "backup_contact": N_("Backup contact"),
}
_ROWS = {
    "deliverables": N_("Deliverable %(number)s"),
    "partners": N_("Partner %(number)s"),
    "partners_added": N_("New partner %(number)s"),
}


def field_label(name: str) -> str:
    """The English label of an input: ``deliverables.2.due_date`` → ``Due date``."""
    parts = [part for part in name.split(".") if not part.isdigit() and part != "resources"]
    if ".".join(parts) in _PATH_LABELS:
        return _PATH_LABELS[".".join(parts)]
    last = parts[-1] if parts else name
    return FIELD_LABELS.get(last, last.replace("_", " ").capitalize())


def field_title(name: str, language: str) -> str:
    """How the error summary names an input, in the words of its label and the group or row it sits in:
    ``deliverables.2.due_date`` → ``Deliverable 3: Due date``, ``focal_point.email`` → ``Focal point: Email``."""
    parts = name.split(".")
    label = i18n.gettext(language, field_label(name))
    if len(parts) >= 3 and parts[0] in _ROWS and parts[1].isdigit():
        row = i18n.gettext(language, _ROWS[parts[0]]) % {"number": int(parts[1]) + 1}
        return f"{row} \N{EN DASH} {label}"
    if len(parts) == 2 and parts[0] in _GROUPS:
        return f"{i18n.gettext(language, _GROUPS[parts[0]])} \N{EN DASH} {label}"
    return label


def form_errors(exc: ValidationError, row_index: Mapping[str, list[int]] | None = None) -> FieldErrors:
    """A model's errors by their inputs, in plain words (:func:`plain_message`)."""
    placed = FieldErrors()
    for error in exc.errors():
        path, message = _path_and_message(error)
        name = _input_name(path, row_index or {})
        if message not in placed.of(name or ""):
            placed.add(name, message)
    return placed


def _input_name(path: str, row_index: Mapping[str, list[int]]) -> str | None:
    parts = path.split(".") if path and path != "body" else []
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in LIST_INPUTS:
            return candidate
    if len(parts) >= 2 and parts[0] in row_index and parts[1].isdigit():
        rows = row_index[parts[0]]
        index = int(parts[1])
        parts[1] = str(rows[index]) if index < len(rows) else parts[1]
    return ".".join(parts) or None


def _path_and_message(error: Any) -> tuple[str, Message]:
    path = ".".join(str(part) for part in error["loc"])
    text = str(error["msg"]).removeprefix("Value error, ")
    leading = _LEADING_FIELD.match(text)
    if not path and leading:
        path, text = leading.group(1), leading.group(2)
    return path, plain_message(error, path, text)


def plain_message(error: Any, path: str, fallback: str) -> Message:
    """What went wrong, in words a person uses, whatever the model called it."""
    kind = str(error["type"])
    context = error.get("ctx", {}) or {}
    given = error.get("input")
    if kind == "missing":
        return Message(N_("This is required."))
    if kind == "string_too_short":
        return Message(N_("Use at least %(count)s characters."), {"count": context["min_length"]})
    if kind == "string_too_long":
        return Message(N_("Use at most %(count)s characters."), {"count": context["max_length"]})
    if kind == "too_short":
        if path == "deliverables":
            return Message(N_("Add at least one deliverable: something specific, with a date."))
        return Message(N_("Choose at least %(count)s."), {"count": context.get("min_length", 1)})
    if kind == "too_long":
        return Message(N_("Give at most %(count)s."), {"count": context.get("max_length", 0)})
    if kind == "value_error" and path.endswith("email"):
        return Message(N_("Enter an email address like name@example.org."))
    if kind.startswith("url") or (kind == "value_error" and path == "website"):
        return Message(N_("Enter a web address that starts with https://."))
    if kind in {"date_from_datetime_parsing", "date_parsing", "date_type", "date_from_datetime_inexact"}:
        return Message(N_("Enter a date like 2026-03-01."))
    if kind in {"float_parsing", "float_type", "finite_number"}:
        return Message(N_("Enter a number, like 1200000."))
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return Message(N_("Enter a whole number."))
    if kind == "greater_than_equal":
        return Message(N_("Use %(limit)s or more."), {"limit": context["ge"]})
    if kind == "less_than_equal":
        return Message(N_("Use %(limit)s or less."), {"limit": context["le"]})
    if kind in {"enum", "literal_error"}:
        return Message(N_("Choose one of the options."))
    if kind == "string_pattern_mismatch" and ("country" in path or path.startswith("countries")):
        return Message(
            N_("“%(value)s” is not a three-letter country code (ISO 3166-1 alpha-3), like KEN."), {"value": given}
        )
    if kind == "sdg_target_form":
        return Message(N_("“%(target)s” is not an SDG target like 9.c or 4.1."), {"target": context["target"]})
    if kind == "sdg_target_unlisted":
        return Message(
            N_("Target %(target)s belongs to SDG %(sdg)s: tick SDG %(sdg)s above, or remove the target."),
            {"target": context["target"], "sdg": context["sdg"]},
        )
    if kind == "countries_required":
        return Message(N_("Name at least one country, unless the scope is global."))
    if kind == "end_or_open_ended":
        return Message(N_("Give an end date, or tick “open-ended”, not both."))
    if kind == "end_before_start":
        return Message(N_("The end date must be after the start date."))
    if kind == "due_before_start":
        return Message(N_("The due date is before the pledge starts (%(day)s)."), {"day": context["start_date"]})
    if kind == "due_after_end":
        return Message(N_("The due date is after the pledge ends (%(day)s)."), {"day": context["end_date"]})
    return Message.verbatim(fallback[:1].upper() + fallback[1:] + ("" if fallback.endswith(".") else "."))


def drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out inputs left empty, so the model's defaults apply (or it says the field is required)."""
    return {key: value for key, value in data.items() if value not in (None, "", [], {})}
