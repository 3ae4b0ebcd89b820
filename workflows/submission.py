"""What a pledger submits and reports (docs/api.md §1-2), validated field by field.

Pure pydantic: the API validates with these models and the workflow carries them, so a rule lives once.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError


class PledgeType(StrEnum):
    financial = "financial"
    policy = "policy"
    programmatic = "programmatic"
    advocacy = "advocacy"


class OrganizationType(StrEnum):
    government = "government"
    local_authority = "local_authority"
    intergovernmental = "intergovernmental"
    un_entity = "un_entity"
    ngo = "ngo"
    private_sector = "private_sector"
    academia = "academia"
    foundation = "foundation"
    other = "other"


class GeographicScope(StrEnum):
    global_ = "global"
    regional = "regional"
    subregional = "subregional"
    national = "national"
    local = "local"


class FundingSource(StrEnum):
    government = "government"
    intergovernmental = "intergovernmental"
    private_sector = "private_sector"
    foundation = "foundation"
    ngo = "ngo"
    other = "other"


class InKind(StrEnum):
    staff = "staff"
    office_space = "office_space"
    equipment = "equipment"
    other = "other"


class Implementation(StrEnum):
    education = "education"
    training = "training"
    technology_transfer = "technology_transfer"
    institutional_capacity = "institutional_capacity"
    policy = "policy"
    financing = "financing"


class Language(StrEnum):
    """The languages a pledger may choose for their emails and pages: the six UN languages."""

    en = "en"
    fr = "fr"
    es = "es"
    ar = "ar"
    zh = "zh"
    ru = "ru"


class Progress(StrEnum):
    not_started = "not_started"
    in_progress = "in_progress"
    on_track = "on_track"
    delayed = "delayed"
    completed = "completed"
    discontinued = "discontinued"


# A progress report's narrative, however it arrives (form, API, a reply by email).
NARRATIVE_MIN_CHARS = 20
NARRATIVE_MAX_CHARS = 10_000

# Lists are bounded so a submission stays a few kilobytes in the workflow's history (Temporal refuses a
# payload over 2 MB): enough for any real pledge, far from what a script could send.
MAX_PARTNERS = 100
MAX_COUNTRIES = 250  # every ISO 3166-1 country once
MAX_REGIONS = 50
MAX_SDG_TARGETS = 169  # every SDG target once
MAX_DELIVERABLES = 50
MAX_LINKS = 20


def unstorable(text: str) -> str | None:
    """Why a database cannot keep this text, or None: PostgreSQL refuses NUL in text, and a lone surrogate
    (JSON may carry one as ``\\ud800``) cannot be encoded as UTF-8 for either database."""
    if "\x00" in text:
        return "must not contain the NUL character (\\u0000)"
    if any("\ud800" <= char <= "\udfff" for char in text):
        return "must not contain an unpaired surrogate (not a character)"
    return None


CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 3166-1 alpha-3, e.g. KEN")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: object) -> object:
        # No field means it, and the registry cannot store it: refused here, whichever door it came
        # through (API, form, import), rather than failing later where the registry is written.
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and (problem := unstorable(text)):
                raise ValueError(problem)
        return value


class Organization(_Strict):
    name: ShortText
    type: OrganizationType
    country: CountryCode


class Contact(_Strict):
    name: ShortText
    email: EmailStr
    position: Annotated[str, Field(max_length=200)] | None = None


class Partner(_Strict):
    name: ShortText
    type: OrganizationType


class Deliverable(_Strict):
    title: Annotated[str, Field(min_length=3, max_length=300)]
    due_date: dt.date


class Resources(_Strict):
    financial_usd: Annotated[float, Field(ge=0, le=1e13)] = 0
    funding_sources: Annotated[list[FundingSource], Field(max_length=len(FundingSource))] = []
    in_kind: Annotated[list[InKind], Field(max_length=len(InKind))] = []


_SDG_TARGET = re.compile(r"^(\d{1,2})\.([0-9]{1,2}|[a-z])$")


@dataclass(frozen=True)
class Problem:
    """A rule across fields that a submission breaks: where (a field path), a code, and the facts to say it."""

    path: str
    code: str
    message: str
    facts: dict[str, Any] = field(default_factory=dict)


def cross_field_problems(
    *,
    sdgs: list[int] | None,
    sdg_targets: list[str],
    geographic_scope: str | None,
    countries: list[str],
    start_date: dt.date | None,
    end_date: dt.date | None,
    open_ended: bool,
    deliverable_dates: list[dt.date | None] | None = None,
) -> list[Problem]:
    """Every rule across fields that the values break, all at once; a value that is not known (``None``,
    because it is missing or did not parse) is not judged here: its own field says what is wrong with it.

    ``deliverable_dates`` is checked only where given: the rule that deliverables fall within the pledge's
    dates is newer than some stored submissions (:class:`SubmissionInput`).
    """
    problems: list[Problem] = []
    for target in sdg_targets:
        match = _SDG_TARGET.match(target)
        if not match:
            problems.append(
                Problem("sdg_targets", "sdg_target_form", f"{target!r} is not a target like '9.c' or '4.1'",
                        {"target": target})
            )  # fmt: skip
        elif sdgs is not None and int(match.group(1)) not in sdgs:
            problems.append(
                Problem("sdg_targets", "sdg_target_unlisted",
                        f"{target!r} belongs to SDG {match.group(1)}, which is not listed",
                        {"target": target, "sdg": int(match.group(1))})
            )  # fmt: skip
    if geographic_scope is not None and geographic_scope != GeographicScope.global_ and not countries:
        problems.append(Problem("countries", "countries_required", "required unless geographic_scope is global"))
    if open_ended == (end_date is not None) and (open_ended or start_date is not None):
        problems.append(Problem("end_date", "end_or_open_ended", "give an end_date or open_ended: true, exactly one"))
    if end_date is not None and start_date is not None and end_date <= start_date:
        problems.append(Problem("end_date", "end_before_start", "must be after start_date"))
    for index, due in enumerate(deliverable_dates or []):
        if due is None:
            continue
        where = f"deliverables.{index}.due_date"
        if start_date is not None and due < start_date:
            problems.append(Problem(where, "due_before_start", "is before the pledge's start_date",
                                    {"start_date": start_date.isoformat()}))  # fmt: skip
        elif end_date is not None and not open_ended and due > end_date:
            problems.append(Problem(where, "due_after_end", "is after the pledge's end_date",
                                    {"end_date": end_date.isoformat()}))  # fmt: skip
    return problems


def _raise_all(title: str, problems: list[Problem], data: object) -> None:
    if problems:
        raise ValidationError.from_exception_data(
            title,
            [
                InitErrorDetails(
                    type=PydanticCustomError(problem.code, f"{problem.path}: {problem.message}", problem.facts),
                    loc=tuple(int(part) if part.isdigit() else part for part in problem.path.split(".")),
                    input=problem.path,
                )
                for problem in problems
            ],
        )


class Submission(_Strict):
    """A pledge as submitted or revised; every rule of docs/api.md §1."""

    title: Annotated[str, Field(min_length=5, max_length=200)]
    description: Annotated[str, Field(min_length=50, max_length=5000)]
    pledge_type: PledgeType
    organization: Organization
    focal_point: Contact
    backup_contact: Contact | None = None
    partners: Annotated[list[Partner], Field(max_length=MAX_PARTNERS)] = []
    sdgs: Annotated[list[Annotated[int, Field(ge=1, le=17)]], Field(min_length=1, max_length=17)]
    sdg_targets: Annotated[list[str], Field(max_length=MAX_SDG_TARGETS)] = []
    geographic_scope: GeographicScope
    countries: Annotated[list[CountryCode], Field(max_length=MAX_COUNTRIES)] = []
    regions: Annotated[list[ShortText], Field(max_length=MAX_REGIONS)] = []
    start_date: dt.date
    end_date: dt.date | None = None
    open_ended: bool = False
    deliverables: Annotated[list[Deliverable], Field(min_length=1, max_length=MAX_DELIVERABLES)]
    resources: Resources = Resources()
    implementation: Annotated[list[Implementation], Field(max_length=len(Implementation))] = []
    website: HttpUrl | None = None
    # The pledger's language, chosen on submission: their emails and pages speak it. Absent in pledges
    # submitted before it existed, which read in English.
    language: Language = Language.en

    @field_validator("title")
    @classmethod
    def _single_line_title(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("must be a single line")
        return value

    @field_validator("sdgs")
    @classmethod
    def _distinct_sdgs(cls, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise ValueError("each SDG once")
        return sorted(value)

    @field_validator("website")
    @classmethod
    def _https_only(cls, value: HttpUrl | None) -> HttpUrl | None:
        if value is not None and value.scheme != "https":
            raise ValueError("must be an https:// URL")
        return value

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Submission:
        _raise_all(type(self).__name__, cross_field_problems(**self._cross_field_values()), self)
        return self

    def _cross_field_values(self) -> dict[str, Any]:
        return {
            "sdgs": self.sdgs,
            "sdg_targets": self.sdg_targets,
            "geographic_scope": self.geographic_scope.value,
            "countries": self.countries,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "open_ended": self.open_ended,
        }

    def contacts(self) -> list[Contact]:
        return [self.focal_point, *([self.backup_contact] if self.backup_contact else [])]


class SubmissionInput(Submission):
    """A submission as the doors (API, forms) accept it now: every rule of :class:`Submission`, and the
    deliverables' due dates within the pledge's dates.

    The stored type stays :class:`Submission`, so a pledge accepted before a rule existed still parses
    when its workflow replays or continues as new.
    """

    model_config = ConfigDict(title="Submission")

    def _cross_field_values(self) -> dict[str, Any]:
        return super()._cross_field_values() | {"deliverable_dates": [d.due_date for d in self.deliverables]}


class DeliverableProgress(_Strict):
    deliverable: Annotated[str, Field(min_length=1, max_length=300)]
    percent_complete: Annotated[int, Field(ge=0, le=100)]
    note: Annotated[str, Field(max_length=2000)] | None = None


class ProgressReport(_Strict):
    """A yearly (or final) progress report, docs/api.md §2."""

    progress: Progress
    narrative: Annotated[str, Field(min_length=NARRATIVE_MIN_CHARS, max_length=NARRATIVE_MAX_CHARS)]
    deliverables: Annotated[list[DeliverableProgress], Field(max_length=MAX_DELIVERABLES)] = []
    resources_mobilized_usd: Annotated[float, Field(ge=0)] | None = None
    beneficiaries_reached: Annotated[int, Field(ge=0)] | None = None
    partners_added: Annotated[list[Partner], Field(max_length=MAX_PARTNERS)] = []
    links: Annotated[list[HttpUrl], Field(max_length=MAX_LINKS)] = []
