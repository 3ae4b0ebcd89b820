"""Matchmaking: other public pledges that share SDGs, countries or partners with a pledge, and why.

The database ranks candidates by what its index tables can count (shared SDGs and countries) and
finds partner links by unnesting the submissions' partner lists; only that bounded pool is then scored
exactly and explained in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal, true, union_all
from sqlmodel import Session, col, select

from pledgeflow.core.models import Pledge, PledgeCountry, PledgeSDG
from pledgeflow.registry import json_lists
from pledgeflow.registry.public import withhold_contacts
from pledgeflow.registry.search import is_public

SDG_WEIGHT = 1
COUNTRY_WEIGHT = 2
PARTNER_WEIGHT = 3
POOL = 200


@dataclass(frozen=True)
class Match:
    pledge: Pledge
    score: int
    reason: str
    shared_sdgs: list[int]
    shared_countries: list[str]
    shared_partners: list[str]


def _enumerate(items: Sequence[Any]) -> str:
    words = [str(item) for item in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _partner_names(submission: dict[str, Any]) -> dict[str, str]:
    """Partner names by their lower-case form, so 'Ministry of ICT' and 'ministry of ICT' meet."""
    return {partner["name"].casefold(): partner["name"] for partner in submission.get("partners", [])}


def _candidates(session: Session, pledge: Pledge) -> set[str]:
    submission = pledge.submission
    others: list[ColumnElement[bool]] = [is_public(), col(Pledge.id) != pledge.id]
    overlap = union_all(
        select(col(PledgeSDG.pledge_id).label("pledge_id"), literal(SDG_WEIGHT).label("weight")).where(
            col(PledgeSDG.sdg).in_(submission["sdgs"])
        ),
        select(col(PledgeCountry.pledge_id).label("pledge_id"), literal(COUNTRY_WEIGHT).label("weight")).where(
            col(PledgeCountry.country).in_(submission.get("countries", []))
        ),
    ).subquery()
    by_overlap = (
        select(overlap.c.pledge_id)
        .join(Pledge, col(Pledge.id) == overlap.c.pledge_id)
        .where(*others)
        .group_by(overlap.c.pledge_id, col(Pledge.published_at))
        .order_by(func.sum(overlap.c.weight).desc(), col(Pledge.published_at).desc(), overlap.c.pledge_id.desc())
        .limit(POOL)
    )
    partners = _partner_names(submission)
    linked_names = [*partners, pledge.organization_name.casefold()]
    items = json_lists.object_items(session, "partners")
    partner_name = func.lower(json_lists.field_of(session, items, "name"))
    by_shared_partner = (
        select(Pledge.id).select_from(Pledge).join(items, true()).where(*others, partner_name.in_(linked_names))
    )
    by_partner_organization = select(Pledge.id).where(*others, func.lower(Pledge.organization_name).in_(list(partners)))
    found: set[str] = set(session.exec(by_overlap))
    found.update(session.exec(by_shared_partner.limit(POOL)))
    found.update(session.exec(by_partner_organization.limit(POOL)))
    return found


def _match(pledge: Pledge, other: Pledge) -> Match:
    mine, theirs = pledge.submission, other.submission
    sdgs = sorted(set(mine["sdgs"]) & set(theirs["sdgs"]))
    countries = sorted(set(mine.get("countries", [])) & set(theirs.get("countries", [])))
    my_partners, their_partners = _partner_names(mine), _partner_names(theirs)
    reasons: list[str] = []
    links: list[str] = []
    if sdgs:
        reasons.append(f"shares SDG {_enumerate(sdgs)}")
    if countries:
        reasons.append(f"also in {_enumerate(countries)}")
    shared = sorted(their_partners[key] for key in my_partners.keys() & their_partners.keys())
    if shared:
        links.extend(shared)
        reasons.append(f"also works with {_enumerate(shared)}")
    if other.organization_name.casefold() in my_partners:
        links.append(other.organization_name)
        reasons.append(f"pledged by partner {other.organization_name}")
    if pledge.organization_name.casefold() in their_partners:
        links.append(pledge.organization_name)
        reasons.append(f"partners with {pledge.organization_name}")
    country = other.organization_country
    return Match(
        pledge=other,
        score=SDG_WEIGHT * len(sdgs) + COUNTRY_WEIGHT * len(countries) + PARTNER_WEIGHT * len(links),
        # Partner and organisation names are free text: contacts typed into them are withheld here too.
        reason=withhold_contacts("; ".join(reasons), country),
        shared_sdgs=sdgs,
        shared_countries=countries,
        shared_partners=sorted({withhold_contacts(link, country) for link in links}),
    )


def related_pledges(session: Session, pledge: Pledge, limit: int) -> list[Match]:
    """At most ``limit`` matches, best first (score, then newest publication)."""
    ids = _candidates(session, pledge)
    if not ids:
        return []
    rows = session.exec(select(Pledge).where(col(Pledge.id).in_(sorted(ids)))).all()
    matches = [match for match in (_match(pledge, row) for row in rows) if match.score > 0]
    matches.sort(key=lambda m: (m.score, m.pledge.published_at, m.pledge.id), reverse=True)
    return matches[:limit]
