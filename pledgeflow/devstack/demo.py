"""``pledgeflow dev --demo``: a living registry on a newcomer's first screen.

Forty pledges modelled on Partner2Connect and the UN partnerships platform (varied organisations, countries,
SDGs, scopes and sizes) go through the real workflows: some are submitted and left in review, some have
changes requested, some are approved, rejected, withdrawn or closed by an operator, and the rest come in by
the import start path with dates that put them where the policy in force says (reported, due, overdue,
non-reporting, completed, ended, delisted, abandoned). Every start carries a key of its own and every action
is taken only if the pledge still waits for it, so seeding again after a restart changes nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pledgeflow.temporal.pledge_client import PledgeClient, PledgeError
from workflows.policy import Policy
from workflows.state import (
    ClosureInput,
    Decision,
    DecisionInput,
    ImportedPledge,
    ImportedReport,
    PledgeStatus,
    WithdrawalInput,
)
from workflows.submission import Submission

STAFF = "dev-admin"
SECOND_STAFF = "dev-second-approver"  # pledges over the policy's amount need a second person's approval
FUNDED_BY = {  # organisation type → the funding source it most likely names
    "government": "government",
    "local_authority": "government",
    "intergovernmental": "intergovernmental",
    "un_entity": "intergovernmental",
    "private_sector": "private_sector",
    "foundation": "foundation",
    "ngo": "ngo",
    "academia": "other",
    "other": "other",
}
DEMO_FILE = Path(__file__).with_name("demo_pledges.jsonl")  # one pledge a line, with the plan it follows
SETTLE_TIMEOUT = 30.0


@dataclass(frozen=True)
class Demo:
    key: str
    plan: str  # where the seeding leaves it: a status, or how it was closed
    organization: tuple[str, str, str]  # name, type, country
    title: str
    what: str  # the description's first sentence
    sdgs: tuple[int, ...]
    scope: str
    countries: tuple[str, ...]
    usd: float
    partners: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, line: dict[str, Any]) -> Demo:
        """A line of demo_pledges.jsonl."""
        organization = line["organization"]
        return cls(
            **{key: line[key] for key in ("key", "plan", "title", "what", "scope", "usd")},
            organization=(organization["name"], organization["type"], organization["country"]),
            sdgs=tuple(line["sdgs"]),
            countries=tuple(line["countries"]),
            partners=tuple((partner["name"], partner["type"]) for partner in line["partners"]),
        )


DEMOS = [Demo.of(json.loads(line)) for line in DEMO_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def submission(demo: Demo, start: dt.date, ends: dt.date | None = None) -> Submission:
    name, kind, country = demo.organization
    slug = demo.key.replace("-", "")
    return Submission.model_validate(
        {
            "title": demo.title,
            "description": f"{demo.what}. We will report on progress every year, with the numbers reached.",
            "pledge_type": "financial" if demo.usd >= 10_000_000 else "programmatic" if demo.usd else "policy",
            "organization": {"name": name, "type": kind, "country": country},
            "focal_point": {"name": "Focal Point", "email": f"focal@{slug}.example", "position": "Programme lead"},
            "backup_contact": {"name": "Backup Contact", "email": f"backup@{slug}.example"},
            "partners": [{"name": partner, "type": ptype} for partner, ptype in demo.partners],
            "sdgs": list(demo.sdgs),
            "geographic_scope": demo.scope,
            "countries": list(demo.countries),
            "start_date": start.isoformat(),
            **({"end_date": ends.isoformat()} if ends else {"open_ended": True}),
            "deliverables": [
                {"title": "First results published", "due_date": (start + dt.timedelta(days=365)).isoformat()},
                {"title": "Full scale reached", "due_date": (start + dt.timedelta(days=1095)).isoformat()},
            ],
            "resources": {"financial_usd": demo.usd, "funding_sources": [FUNDED_BY[kind]]},
            "implementation": ["technology_transfer", "training"],
        }
    )


def history(demo: Demo, policy: Policy, now: dt.datetime) -> dict[str, Any] | None:
    """Dates that put an imported pledge at its plan's point of the ladder under ``policy``; None for the
    plans that go through people's actions instead."""
    year, hour = policy.reporting_interval, dt.timedelta(hours=1)
    published = {
        "report_due": now - year - (policy.reminder_1_after + policy.reminder_2_after) / 2,
        "overdue": now - year - (policy.overdue_after + policy.non_reporting_after) / 2,
        "non_reporting": now - year - policy.non_reporting_after - policy.delisted_after / 2,
        "delisted": now - year - policy.non_reporting_after - policy.delisted_after - 30 * hour,
        "reported": now - year - year / 4,
        "completed": now - year - year / 2,
        "ended": now - year - year / 2,
    }.get(demo.plan)
    if demo.plan == "abandoned":
        return {"status": "closed", "closure_reason": "abandoned", "submitted_at": now - 60 * hour}
    if published is None:
        return None
    fields: dict[str, Any] = {"published_at": published, "submitted_at": published - 20 * hour}
    if demo.plan == "reported":
        fields["reports"] = [_report(published + year + year / 8, "on_track")]
    if demo.plan == "completed":
        fields |= {"status": "closed", "closure_reason": "completed", "reports": [_report(now - hour, "completed")]}
    if demo.plan == "ended":
        fields |= {"status": "closed", "closure_reason": "ended"}
    return fields


def _report(at: dt.datetime, progress: str) -> ImportedReport:
    return ImportedReport(
        received_at=at,
        progress=progress,
        narrative="This year we reached most of our targets; the details are in the deliverables below.",
        deliverables=[{"deliverable": "First results published", "percent_complete": 100}],
        beneficiaries_reached=12_000,
    )


# What each plan asks of the people after submission: (the status it must still be in, the action).
Act = Callable[[PledgeClient, str], Awaitable[object]]


async def _approve(pledges: PledgeClient, pledge_id: str) -> None:
    """Approve as staff who have not yet: a pledge over the policy's amount needs two different people."""
    for staff in (STAFF, SECOND_STAFF):
        state = await pledges.state(pledge_id)
        if state.status != PledgeStatus.in_review:
            return
        if staff not in state.approvals:
            await pledges.decide(pledge_id, DecisionInput(decision=Decision.approve, staff=staff))


def _decide(decision: Decision, note: str) -> Act:
    return lambda c, p: c.decide(p, DecisionInput(decision=decision, note=note, staff=STAFF))


ACTIONS: dict[str, list[tuple[PledgeStatus, Act]]] = {
    "in_review": [],
    "changes_requested": [(PledgeStatus.in_review, _decide(Decision.request_changes, "Please name the provinces."))],
    "rejected": [(PledgeStatus.in_review, _decide(Decision.reject, "Not credible: no plan behind the token sale."))],
    "published": [(PledgeStatus.in_review, _approve)],
    "withdrawn": [
        (PledgeStatus.in_review, _approve),
        (PledgeStatus.published, lambda c, p: c.withdraw(p, WithdrawalInput(reason="Merged into a joint pledge."))),
    ],
    "removed": [
        (PledgeStatus.in_review, _approve),
        (PledgeStatus.published, lambda c, p: c.close(p, ClosureInput(reason="Duplicate entry.", staff=STAFF))),
    ],
}


async def seed(pledges: PledgeClient, policy: Policy, echo: Callable[[str], None]) -> int:
    """Start every demo pledge that is not there yet and take the actions still waiting; the changes made
    (none when seeding again)."""
    now = dt.datetime.now(dt.UTC)
    results = await asyncio.gather(*(_seed_one(pledges, policy, demo, now) for demo in DEMOS), return_exceptions=True)
    for demo, result in zip(DEMOS, results, strict=True):
        if isinstance(result, BaseException):
            echo(f"demo pledge {demo.key} not seeded: {' '.join(str(result).split())}")
    return sum(result for result in results if isinstance(result, int))


async def _seed_one(pledges: PledgeClient, policy: Policy, demo: Demo, now: dt.datetime) -> int:
    fields = history(demo, policy, now)
    if fields is not None:
        ends = (now - policy.reporting_interval / 3).date() if demo.plan in ("completed", "ended") else None
        start = (fields.get("submitted_at") or now - 60 * dt.timedelta(days=1)).date() - dt.timedelta(days=30)
        imported = ImportedPledge(key=f"demo:{demo.key}", **fields)
        _, new = await pledges.start_imported(submission(demo, start, ends), imported)
        return int(new)
    started = (now - dt.timedelta(days=30)).date()
    pledge_id = await pledges.start(submission(demo, started), idempotency_key=f"demo:{demo.key}")
    acted = 0
    for waits_in, act in ACTIONS[demo.plan]:
        if await _settled(pledges, pledge_id) == waits_in:
            await act(pledges, pledge_id)
            acted += 1
    return acted


async def _settled(pledges: PledgeClient, pledge_id: str) -> PledgeStatus | None:
    """The pledge's status once its current stage has begun (published after approval, say)."""
    async with asyncio.timeout(SETTLE_TIMEOUT):
        while True:
            try:
                state = await pledges.state(pledge_id)
            except PledgeError:
                return PledgeStatus.closed
            if state.timeline and (state.status != PledgeStatus.published or state.cycle >= 1):
                return state.status
            await asyncio.sleep(0.2)
