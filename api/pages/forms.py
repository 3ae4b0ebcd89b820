"""Turning posted HTML forms into the API's models, and the models' errors back into messages by each field.

Field names in the forms are the models' paths (``organization.country``, ``deliverables.0.title``), so
an error pydantic reports at a path lands next to the input of that name. Rules live in the models
(workflows.submission); this module only reshapes text inputs into the models' structure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from api.problems import FieldError

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


@dataclass
class FieldErrors:
    """Messages by input name, plus those that belong to no single input (shown at the top)."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str | None, message: str) -> None:
        if name:
            self.by_field.setdefault(name, []).append(message)
        else:
            self.general.append(message)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def of(self, name: str) -> list[str]:
        return self.by_field.get(name, [])

    def summary(self) -> list[tuple[str | None, str]]:
        return [(name, message) for name, messages in self.by_field.items() for message in messages] + [
            (None, message) for message in self.general
        ]


_WORDS = {
    "organization": "Organisation",
    "sdgs": "SDGs",
    "sdg_targets": "SDG targets",
    "financial_usd": "financial commitment (USD)",
    "resources_mobilized_usd": "Resources mobilised (USD)",
    "beneficiaries_reached": "People reached",
    "narrative": "What happened this year",
    "percent_complete": "percent complete",
    "due_date": "due date",
    "key": "Staff key",
}
_ROWS = {"deliverables": "Deliverable", "partners": "Partner", "partners_added": "New partner"}


def field_title(name: str) -> str:
    """Words for an input in the error summary: ``deliverables.2.due_date`` → ``Deliverable 3 due date``."""
    parts = [part for part in name.split(".") if part != "resources"]
    words: list[str] = []
    for index, part in enumerate(parts):
        if part.isdigit() and index > 0 and parts[index - 1] in _ROWS:
            words[-1] = f"{_ROWS[parts[index - 1]]} {int(part) + 1}"
        else:
            words.append(_WORDS.get(part, part.replace("_", " ")))
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def field_errors(errors: Iterable[FieldError], row_index: Mapping[str, list[int]] | None = None) -> FieldErrors:
    """Place the API's field errors by their inputs.

    ``row_index`` maps a repeated-row prefix to the form row each model item came from, since empty rows
    are left out and the model's item 2 may be the form's row 4.
    """
    placed = FieldErrors()
    for error in errors:
        name = _input_name(error.field, row_index or {})
        placed.add(name, error.message)
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


def validation_errors(exc: ValidationError) -> list[FieldError]:
    """pydantic's errors as the API reports them (problem+json ``errors``): a dotted field and a message."""
    found = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        leading = _LEADING_FIELD.match(message)
        if not path and leading:
            path, message = leading.group(1), leading.group(2)
        context = error.get("ctx", {})
        if error["type"] == "missing":
            message = "Required."
        elif error["type"] == "string_too_short":
            message = f"Use at least {context['min_length']} characters."
        elif error["type"] == "string_too_long":
            message = f"Use at most {context['max_length']} characters."
        elif error["type"] == "string_pattern_mismatch" and ("country" in path or path.startswith("countries")):
            message = f"{error['input']!r} is not a three-letter country code (ISO 3166-1 alpha-3), like KEN."
        found.append(FieldError(field=path, message=message))
    return found


def drop_empty(data: dict[str, Any]) -> dict[str, Any]:
    """Leave out inputs left empty, so the model's defaults apply (or it says the field is required)."""
    return {key: value for key, value in data.items() if value not in (None, "", [], {})}
