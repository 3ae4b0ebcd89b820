"""What changed between two versions of a submission, field by field, in the words of the form's labels.

The staff's decision page shows it for a revision; the revise page shows it when someone else revised
the pledge while the pledger was editing. Long texts are compared word by word (difflib), so a changed
sentence in a 5,000-character description stands out.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from workflows.submission import Submission

_TEXTS = frozenset({"description", "title"})


@dataclass(frozen=True)
class Piece:
    text: str
    kind: str  # same | removed | added


@dataclass(frozen=True)
class Change:
    field: str  # the input's name, which the page turns into its label
    before: str
    after: str
    pieces: list[Piece]  # word by word, for the long texts; empty otherwise


def _flat(submission: Submission) -> dict[str, str]:
    """The submission as the form shows it: one text per input."""
    s = submission
    flat = {
        "title": s.title,
        "description": s.description,
        "pledge_type": s.pledge_type.value,
        "language": s.language.value,
        "organization.name": s.organization.name,
        "organization.type": s.organization.type.value,
        "organization.country": s.organization.country,
        "focal_point.name": s.focal_point.name,
        "focal_point.email": s.focal_point.email,
        "focal_point.position": s.focal_point.position or "",
        "backup_contact.name": s.backup_contact.name if s.backup_contact else "",
        "backup_contact.email": s.backup_contact.email if s.backup_contact else "",
        "sdgs": ", ".join(str(sdg) for sdg in s.sdgs),
        "sdg_targets": ", ".join(s.sdg_targets),
        "geographic_scope": s.geographic_scope.value,
        "countries": ", ".join(s.countries),
        "regions": ", ".join(s.regions),
        "start_date": s.start_date.isoformat(),
        "end_date": s.end_date.isoformat() if s.end_date else "",
        "open_ended": "✓" if s.open_ended else "",
        "deliverables": "\n".join(f"{d.due_date.isoformat()}: {d.title}" for d in s.deliverables),
        "partners": "\n".join(f"{p.name} ({p.type.value})" for p in s.partners),
        "resources.financial_usd": f"{s.resources.financial_usd:,.0f}",
        "resources.funding_sources": ", ".join(source.value for source in s.resources.funding_sources),
        "resources.in_kind": ", ".join(kind.value for kind in s.resources.in_kind),
        "implementation": ", ".join(way.value for way in s.implementation),
        "website": str(s.website or ""),
    }
    return flat


def _words(before: str, after: str) -> list[Piece]:
    old, new = before.split(" "), after.split(" ")
    pieces: list[Piece] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            pieces.append(Piece(" ".join(old[i1:i2]), "same"))
            continue
        if i2 > i1:
            pieces.append(Piece(" ".join(old[i1:i2]), "removed"))
        if j2 > j1:
            pieces.append(Piece(" ".join(new[j1:j2]), "added"))
    return pieces


def submission_changes(before: Submission, after: Submission) -> list[Change]:
    old, new = _flat(before), _flat(after)
    return [
        Change(name, old[name], new[name], _words(old[name], new[name]) if name in _TEXTS else [])
        for name in old
        if old[name] != new[name]
    ]
