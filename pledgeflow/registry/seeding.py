"""Bulk seeding of a registry with published pledges, for the benchmark (``pledgeflow bench``) and for
timing the registry by hand: :func:`seed_registry`.

Every pledge is written through the projection's own write path (``activities.registry.write_projections``,
what the ``project_pledge`` activity runs), a batch at a time, so the registry holds exactly what real
workflows would have written: rows with their export records, index rows, search text, timeline and
reports. The data is varied the way real registries are (SDGs, countries, regions, organisation and
pledge types, scopes, time frames, amounts with a few huge outliers, statuses across the reporting
ladder), so filters are selective; the same ``seed`` gives the same registry.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator

from sqlalchemy import text

from activities.registry import write_projections
from pledgeflow.core import db, ids
from workflows.projection import PledgeProjection
from workflows.state import Actor, ClosureReason, EventKind, PledgeStatus, ReportRecord, TimelineEvent
from workflows.submission import GeographicScope, OrganizationType, PledgeType, ProgressReport, Submission

BATCH = 500
START = dt.datetime(2019, 1, 7, 9, 0, tzinfo=dt.UTC)
SPAN_DAYS = 6 * 365

COUNTRIES = (
    "KEN", "NGA", "GHA", "SEN", "ETH", "UGA", "TZA", "RWA", "ZAF", "EGY", "MAR", "TUN",
    "IND", "BGD", "PAK", "NPL", "LKA", "IDN", "PHL", "VNM", "THA", "KHM", "MMR", "CHN",
    "MNG", "BRA", "ARG", "CHL", "COL", "PER", "MEX", "GTM", "HND", "ECU", "BOL", "FJI",
    "PNG", "WSM", "TON", "VUT", "SLB", "KIR", "TUV", "USA", "CAN", "GBR", "FRA", "DEU",
    "ESP", "ITA", "NLD", "SWE", "NOR", "FIN", "EST", "POL", "UKR", "TUR", "JOR", "LBN",
    "IRQ", "SAU", "ARE", "QAT",
)  # fmt: skip
REGIONS = (
    "Sub-Saharan Africa",
    "Northern Africa",
    "Western Asia",
    "Central and Southern Asia",
    "Eastern and South-Eastern Asia",
    "Latin America and the Caribbean",
    "Oceania",
    "Small Island Developing States",
    "Least Developed Countries",
    "Europe and Northern America",
)
SUBJECTS = (
    "rural schools", "primary health clinics", "women entrepreneurs", "smallholder farmers", "coastal communities",
    "public libraries", "refugee settlements", "municipal water utilities", "secondary students", "youth hubs",
    "indigenous communities", "teachers", "community radio stations", "urban informal settlements", "fisheries",
)  # fmt: skip
ACTIONS = (
    ("Connecting", "broadband connectivity and digital skills training"),
    ("Training", "hands-on courses and mentoring in digital literacy"),
    ("Equipping", "solar-powered devices, servers and offline content"),
    ("Financing", "blended finance for last-mile network operators"),
    ("Protecting", "marine protected areas co-managed with local fishers"),
    ("Electrifying", "mini-grids and pay-as-you-go solar home systems"),
    ("Digitising", "open registries and interoperable public services"),
    ("Supporting", "policy reform for affordable spectrum and infrastructure sharing"),
)
ORGANISATION_WORDS = (
    "Connect", "Open", "Digital", "Blue", "Green", "Future", "Bridge", "Horizon", "United", "Common", "Bright",
    "Northern", "Southern", "Coastal", "Rural", "Civic",
)  # fmt: skip
ORGANISATION_KINDS = {
    OrganizationType.government: "Ministry of {} Affairs",
    OrganizationType.local_authority: "City of {}ville",
    OrganizationType.intergovernmental: "{} Regional Commission",
    OrganizationType.un_entity: "UN {} Programme",
    OrganizationType.ngo: "{} Alliance",
    OrganizationType.private_sector: "{} Telecom Ltd",
    OrganizationType.academia: "{} University",
    OrganizationType.foundation: "{} Foundation",
    OrganizationType.other: "{} Network",
}
# Registry statuses and how often a published pledge is in each (closed ones with their reasons).
STATUS_WEIGHTS = (
    ((PledgeStatus.published, None), 55),
    ((PledgeStatus.report_due, None), 15),
    ((PledgeStatus.report_overdue, None), 8),
    ((PledgeStatus.non_reporting, None), 7),
    ((PledgeStatus.closed, ClosureReason.completed), 6),
    ((PledgeStatus.closed, ClosureReason.ended), 3),
    ((PledgeStatus.closed, ClosureReason.delisted), 4),
    ((PledgeStatus.closed, ClosureReason.withdrawn), 2),
)


def _submission(rng: random.Random, published_at: dt.datetime) -> Submission:
    org_type = rng.choice(list(OrganizationType))
    word = rng.choice(ORGANISATION_WORDS)
    organisation = ORGANISATION_KINDS[org_type].format(word) + f" {rng.randrange(1, 400)}"
    verb, means = rng.choice(ACTIONS)
    subject = rng.choice(SUBJECTS)
    scope = rng.choices(list(GeographicScope), weights=(10, 15, 10, 50, 15))[0]
    countries = [] if scope == GeographicScope.global_ else rng.sample(COUNTRIES, k=1 if scope != "regional" else 4)
    place = countries[0] if countries else "every region"
    sdgs = sorted(rng.sample(range(1, 18), k=rng.choice((1, 2, 2, 3, 3, 4))))
    start = (published_at - dt.timedelta(days=rng.randrange(0, 200))).date()
    years = rng.choice((1, 2, 3, 4, 5, 7, 10, 0))
    end = None if years == 0 else start + dt.timedelta(days=365 * years)
    count = rng.randrange(50, 5000)
    amount = rng.choice((0.0, 0.0, round(rng.lognormvariate(13, 1.6), 2)))
    if rng.random() < 0.002:  # the few huge pledges that dominate a sum
        amount = round(rng.uniform(5e8, 5e9), 2)
    last_due = end or start + dt.timedelta(days=365 * 3)
    return Submission.model_validate(
        {
            "title": f"{verb} {count} {subject} in {place} by {last_due.year}",
            "description": (
                f"{organisation} will provide {means} for {count} {subject} in {place}, with local partners and "
                f"yearly public reporting of what was achieved and what was spent. Reference {rng.randrange(10**6)}."
            ),
            "pledge_type": rng.choice(list(PledgeType)).value,
            "organization": {"name": organisation, "type": org_type.value, "country": rng.choice(COUNTRIES)},
            "focal_point": {"name": "Focal Point", "email": f"focal{rng.randrange(10**6)}@pledges.example"},
            "partners": [
                {"name": ORGANISATION_KINDS[t].format(rng.choice(ORGANISATION_WORDS)), "type": t.value}
                for t in rng.sample(list(OrganizationType), k=rng.randrange(0, 3))
            ],
            "sdgs": sdgs,
            "geographic_scope": scope.value,
            "countries": countries,
            "regions": rng.sample(REGIONS, k=rng.choice((0, 1, 1, 2))),
            "start_date": start.isoformat(),
            "end_date": end.isoformat() if end else None,
            "open_ended": end is None,
            "deliverables": [
                {
                    "title": f"{n * count // 2} {subject} reached",
                    "due_date": (start + dt.timedelta(days=300 * n)).isoformat(),
                }
                for n in (1, 2)
                if end is None or start + dt.timedelta(days=300 * n) <= end
            ]
            or [{"title": f"{count} {subject} reached", "due_date": last_due.isoformat()}],
            "resources": {"financial_usd": amount, "funding_sources": ["government"], "in_kind": ["staff"]},
            "implementation": rng.sample(["education", "training", "technology_transfer", "financing"], k=2),
        }
    )


def _projection(rng: random.Random, pledge_id: str) -> PledgeProjection:
    published_at = START + dt.timedelta(days=rng.randrange(SPAN_DAYS), seconds=rng.randrange(86_400))
    submitted_at = published_at - dt.timedelta(days=rng.randrange(3, 30))
    status, reason = rng.choices([choice for choice, _ in STATUS_WEIGHTS], [w for _, w in STATUS_WEIGHTS])[0]
    cycle = min(5, (START + dt.timedelta(days=SPAN_DAYS) - published_at).days // 365 + 1)
    reported = [n for n in range(1, cycle + 1) if rng.random() < 0.66]  # two in three report (Our Ocean)
    reports = [
        ReportRecord(
            cycle=n,
            received_at=published_at + dt.timedelta(days=365 * n - rng.randrange(1, 50)),
            source="form",
            report=ProgressReport(progress="on_track", narrative=f"Cycle {n}: work goes as planned, on budget."),
        )
        for n in reported
    ]
    events = [
        TimelineEvent(seq=1, at=submitted_at, actor=Actor.pledger, kind=EventKind.submitted,
                      message="Pledge submitted for review.", status=PledgeStatus.in_review),
        TimelineEvent(seq=2, at=published_at, actor=Actor.staff, staff="seed", kind=EventKind.approved,
                      message="Approved by the vetting team.", status=PledgeStatus.published),
    ]  # fmt: skip
    return PledgeProjection(
        pledge_id=pledge_id,
        submission=_submission(rng, published_at),
        submission_version=1,
        status=status,
        closure_reason=reason,
        closure_note=None,
        submitted_at=submitted_at,
        review_started_at=submitted_at,
        published_at=published_at,
        next_deadline=None if status == PledgeStatus.closed else published_at + dt.timedelta(days=365 * cycle),
        next_step=None,
        cycle=cycle,
        missed_cycles=cycle - len(reported)
        if status in (PledgeStatus.non_reporting, PledgeStatus.report_overdue)
        else 0,
        last_report_at=reports[-1].received_at if reports else None,
        events=events,
        reports=reports,
    )


def projections(n: int, seed: int) -> Iterator[PledgeProjection]:
    """``n`` published pledges' projections, the same for the same ``seed``."""
    rng = random.Random(seed)
    taken: set[str] = set()
    while len(taken) < n:
        pledge_id = "PF-" + "".join(rng.choice(ids.ALPHABET) for _ in range(ids.LENGTH))
        if pledge_id not in taken:
            taken.add(pledge_id)
            yield _projection(rng, pledge_id)


def seed_registry(
    url: str, n: int, seed: int = 0, *, on_batch: Callable[[int], None] | None = None, batch: int = BATCH
) -> int:
    """Migrate the registry at ``url`` and add ``n`` published pledges to it, ``batch`` per transaction,
    through the projection's write path; ``on_batch(done)`` after each (a progress bar). Refreshes the
    planner's statistics at the end (and vacuums on PostgreSQL), as a registry in service has them.
    Returns ``n``.

    Ids come from ``seed``: seeding the same registry twice with one seed rewrites the same pledges.
    """
    if n < 0 or batch < 1:
        raise ValueError("n must be >= 0 and batch >= 1")
    db.upgrade(url)
    pending: list[PledgeProjection] = []
    done = 0
    for projection in projections(n, seed):
        pending.append(projection)
        if len(pending) == batch:
            done += _write(url, pending)
            pending = []
            if on_batch:
                on_batch(done)
    if pending:
        done += _write(url, pending)
        if on_batch:
            on_batch(done)
    with db.engine_for(url).connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        # PostgreSQL: VACUUM too, which marks the pages all-visible so the statistics' index-only scans
        # need no heap visit (autovacuum does the same a little later in service).
        connection.execute(text("VACUUM ANALYZE" if connection.dialect.name == "postgresql" else "ANALYZE"))
    return done


def _write(url: str, batch: list[PledgeProjection]) -> int:
    with db.session_for(url) as session:
        write_projections(session, batch)
        session.commit()
    return len(batch)
