"""Varied, valid submissions and reports for the bench, the same for a given seed: every SDG, many countries
and organisation types, titles and descriptions with words a search can find."""

from __future__ import annotations

import datetime as dt
import random

from workflows.submission import ProgressReport, Submission

COUNTRIES = ["KEN", "BRA", "IND", "FRA", "NGA", "IDN", "MEX", "EGY", "VNM", "COL", "GHA", "PER", "PHL", "MAR", "NPL"]
ORG_TYPES = ["government", "local_authority", "ngo", "private_sector", "academia", "foundation", "un_entity"]
THEMES = [
    ("broadband", "Connecting rural schools", "broadband connectivity and digital skills training"),
    ("solar", "Solar power for clinics", "off-grid solar installations and maintenance training"),
    ("water", "Clean water for villages", "boreholes, filtration and water committees"),
    ("literacy", "Digital literacy for women", "community centres teaching digital skills"),
    ("mangrove", "Restoring coastal mangroves", "replanting and protecting mangrove belts"),
    ("cooking", "Clean cooking for households", "efficient stoves and LPG access"),
]
TEXT_MATCH = "mangrove"  # a word some titles carry; the registry part's text search looks for it
NO_MATCH = "zyzzogeton"  # a word no submission carries
FIRST_MILESTONE = dt.timedelta(days=300)


def submission(n: int, rng: random.Random, open_ended: bool = False) -> Submission:
    word, title, what = THEMES[n % len(THEMES)]
    country = rng.choice(COUNTRIES)
    start = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(365))
    org = f"{rng.choice(['Green', 'Open', 'United', 'Bright', 'Common'])} {word.title()} Alliance {n}"
    return Submission.model_validate(
        {
            "title": f"{title} in {country} ({n})",
            "description": f"We will deliver {what} in {country}, working with local partners and ministries.",
            "pledge_type": rng.choice(["financial", "policy", "programmatic", "advocacy"]),
            "organization": {"name": org, "type": rng.choice(ORG_TYPES), "country": country},
            "focal_point": {"name": "Amina Otieno", "email": f"focal{n}@pledges.example", "position": "Director"},
            "partners": [{"name": f"Ministry of {word.title()}", "type": "government"}],
            "sdgs": sorted(rng.sample(range(1, 18), rng.randint(1, 3))),
            "geographic_scope": "national",
            "countries": [country],
            "start_date": start.isoformat(),
            "end_date": None if open_ended else (start + dt.timedelta(days=365 * rng.randint(1, 5))).isoformat(),
            "open_ended": open_ended,
            "deliverables": [{"title": f"First {word} milestone", "due_date": (start + FIRST_MILESTONE).isoformat()}],
            "resources": {"financial_usd": rng.randrange(10_000, 900_000), "funding_sources": ["foundation"]},
            "implementation": ["training"],
        }
    )


def report(n: int) -> ProgressReport:
    return ProgressReport.model_validate(
        {"progress": "on_track", "narrative": f"Year report {n}: milestones met, partners on board, budget on plan."}
    )
