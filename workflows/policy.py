"""The lifecycle's numbers (docs/lifecycle.md §14): every delay of the ladder, as data.

Durations are written ``45d``, ``12h``, ``15m`` or ``30s`` in settings and TOML files. The workflow reads
the policy through an activity when it starts and at each new reporting cycle, so a change applies to
running pledges from their next cycle.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms])\s*$")
_UNIT_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(value: object) -> dt.timedelta:
    """``"45d"`` → 45 days. Also accepts a timedelta or a number of seconds."""
    if isinstance(value, dt.timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return dt.timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    raise ValueError(f"{value!r} is not a duration like '45d', '12h', '15m' or '30s'")


def format_duration(value: dt.timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


class Policy(BaseModel):
    """Every number of the ladder in docs/lifecycle.md; the field comments name its §."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "default"
    review_reminder_after: Duration = dt.timedelta(days=7)  # 2. reminder to the vetting team
    review_escalation_after: Duration = dt.timedelta(days=14)  # 2. escalation to the vetting lead
    two_approvals_above_usd: Annotated[float, Field(ge=0)] = 10_000_000  # 2. second approver needed
    revision_reminder_after: Duration = dt.timedelta(days=14)  # 3.
    revision_abandoned_after: Duration = dt.timedelta(days=30)  # 3. closed (abandoned)
    reporting_interval: Duration = dt.timedelta(days=365)  # 5. anniversary
    early_report_window: Duration = dt.timedelta(days=60)  # 5. a report this close counts
    reminder_1_after: Duration = dt.timedelta(days=14)  # 6.
    reminder_2_after: Duration = dt.timedelta(days=30)  # 6. also to the backup contact
    overdue_after: Duration = dt.timedelta(days=45)  # 7. report_overdue, final notice
    non_reporting_after: Duration = dt.timedelta(days=90)  # 8. non_reporting, public red
    delisted_after: Duration = dt.timedelta(days=365)  # 10. after becoming non_reporting
    max_extension: Duration = dt.timedelta(days=60)  # 13.


def _seconds_ladder() -> Policy:
    """The default ladder with each day become a second, and a two-minute year."""
    default = Policy()
    scaled: dict[str, Any] = {"name": "demo", "two_approvals_above_usd": default.two_approvals_above_usd}
    for field in Policy.model_fields:
        value = getattr(default, field)
        if isinstance(value, dt.timedelta):
            scaled[field] = dt.timedelta(seconds=value.total_seconds() / 86_400)
    scaled["reporting_interval"] = dt.timedelta(minutes=2)
    scaled["early_report_window"] = dt.timedelta(seconds=20)
    # A person revising on the page needs minutes, not the ladder's 30 seconds.
    scaled["revision_reminder_after"] = dt.timedelta(minutes=5)
    scaled["revision_abandoned_after"] = dt.timedelta(minutes=15)
    return Policy(**scaled)


PRESETS: dict[str, Policy] = {
    "default": Policy(),
    "demo": _seconds_ladder(),
    # UN Global Compact COP: a missed 12-month deadline makes a participant non-communicating
    # (public) soon after; still silent a year later, delisted.
    "global_compact": Policy(
        name="global_compact",
        reminder_1_after=dt.timedelta(days=7),
        reminder_2_after=dt.timedelta(days=21),
        overdue_after=dt.timedelta(days=30),
        non_reporting_after=dt.timedelta(days=31),
        delisted_after=dt.timedelta(days=365),
    ),
}


class StaffContacts(BaseModel):
    """Where the workflow writes to staff; from settings, loaded with the policy."""

    model_config = ConfigDict(frozen=True)

    vetting_team: str
    vetting_lead: str
    secretariat: str


class LoadedPolicy(BaseModel):
    """What the ``load_policy`` activity hands the workflow at start and at each new cycle."""

    policy: Policy
    staff: StaffContacts


def load_policy(preset: str, policy_file: Path | None = None) -> Policy:
    """The named preset, overridden field by field by a TOML file's top-level keys."""
    if preset not in PRESETS:
        raise ValueError(f"unknown policy preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
    base = PRESETS[preset]
    if policy_file is None:
        return base
    overrides = tomllib.loads(Path(policy_file).read_text())
    return Policy(**{**base.model_dump(), **overrides})
