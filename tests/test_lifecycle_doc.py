"""docs/lifecycle.md says what the code does: the preset table holds PRESETS' numbers, and links between the
docs land on headings that exist."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from workflows.policy import PRESETS, Policy, format_duration

ROOT = Path(__file__).resolve().parent.parent
LIFECYCLE = ROOT / "docs" / "lifecycle.md"
SETTINGS = [name for name in Policy.model_fields if name != "name"]
_LINK = re.compile(r"\]\(([\w./-]+\.md)?#([\w-]+)\)")


def _shown(value: object) -> str:
    """A policy value as the table writes it: a duration as in a policy file, an amount in USD."""
    if isinstance(value, dt.timedelta):
        return f"`{format_duration(value)}`"
    assert isinstance(value, int | float)
    return f"USD {value:,.0f}"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _preset_table() -> tuple[list[str], dict[str, list[str]]]:
    """The preset columns of the table whose first column is ``setting``, and each row's values in them."""
    lines = LIFECYCLE.read_text().splitlines()
    start = next(number for number, line in enumerate(lines) if _cells(line)[0] == "setting")
    header = _cells(lines[start])
    first_preset = header.index("`default`")
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        rows[cells[0].strip("`")] = cells[first_preset:]
    return [name.strip("`") for name in header[first_preset:]], rows


def test_the_preset_table_shows_every_presets_numbers_as_the_code_has_them() -> None:
    presets, rows = _preset_table()
    assert presets == list(PRESETS)
    expected = {name: [_shown(getattr(policy, name)) for policy in PRESETS.values()] for name in SETTINGS}
    wrong = {name: values for name, values in expected.items() if rows.get(name) != values}
    table = "\n".join(f"{name}: {' | '.join(values)}" for name, values in wrong.items())
    assert not wrong, f"docs/lifecycle.md §14 should say ({' | '.join(presets)}):\n{table}"
    assert set(rows) == set(SETTINGS), f"rows for settings the policy does not have: {set(rows) - set(SETTINGS)}"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: ``## 5. Report request`` → ``5-report-request``."""
    words = re.sub(r"[^\w\- ]", "", heading.lstrip("#").strip().lower())
    return words.replace(" ", "-")


def test_links_between_the_docs_land_on_headings_that_exist() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for document in documents:
        for target, anchor in _LINK.findall(document.read_text()):
            linked = (document.parent / target) if target else document
            headings = {_anchor(line) for line in linked.read_text().splitlines() if line.startswith("#")}
            if anchor not in headings:
                missing.append(f"{document.relative_to(ROOT)} → {target}#{anchor}")
    assert not missing, missing
