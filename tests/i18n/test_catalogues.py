"""The catalogues say what the code says: every message of the pages and emails is in them, French and
Spanish translate all of it, Arabic, Chinese and Russian the pledger's path, and a translation keeps the
facts (``%(title)s``...) of its message, so no page or email can fail to render or lose a fact."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po

from pledgeflow import i18n
from workflows.submission import Language

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\([a-z_]+\)s|%%")
JINJA = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "newstyle_gettext": "true"}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
# The pledger's path (issue 11): what every language must say, the UN's six included.
PLEDGER_PATH = [
    "api/templates/base.html",
    "api/templates/macros.html",
    "api/templates/submit_form.html",
    "api/templates/submission_fields.html",
    "api/templates/submit_done.html",
    "api/templates/report_form.html",
    "api/templates/report_done.html",
    "api/templates/error.html",
    "email_templates/layout.html",
    "email_templates/layout.txt",
    "email_templates/macros.html",
    "email_templates/macros.txt",
    "email_templates/report_request.html",
    "email_templates/report_request.txt",
    "email_templates/reminder_1.html",
    "email_templates/reminder_1.txt",
    "email_templates/reminder_2.html",
    "email_templates/reminder_2.txt",
    "api/pages/forms.py",
    "api/pages/labels.py",
    "api/pages/routing.py",
]
PATH_SUBJECTS = {
    "Please report progress on “%(title)s” by %(deadline)s",
    "Reminder: your progress report on “%(title)s” is due %(deadline)s",
    "Second reminder: progress report on “%(title)s” due %(deadline)s",
}


def catalogue(language: str) -> dict[object, object]:
    with (i18n.LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return {message.id: message.string for message in read_po(po, locale=language) if message.id}


def every_message() -> set[object]:
    """What ``pybabel extract`` finds in the code today (pledgeflow/i18n/babel.cfg)."""
    pot = ROOT / ".pytest-messages.pot"
    command = [
        str(Path(sys.executable).parent / "pybabel"),
        "extract", "-F", "pledgeflow/i18n/babel.cfg", "-k", "N_", "--no-location", "--omit-header",
        "-o", str(pot), ".",
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)  # noqa: S603 - our own extraction
    try:
        with pot.open("rb") as file:
            return {message.id for message in read_po(file) if message.id}
    finally:
        pot.unlink()


def pledger_path() -> set[object]:
    found: set[object] = set(PATH_SUBJECTS)
    for name in PLEDGER_PATH:
        method = "python" if name.endswith(".py") else "jinja2"
        for _, message, _, _ in extract_from_file(method, str(ROOT / name), KEYWORDS, options=JINJA):
            found.add(message)
    return found


def translated(string: object) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


def test_the_languages_are_the_ones_a_pledger_may_choose() -> None:
    assert set(i18n.LANGUAGES) == {language.value for language in Language}
    assert sorted(path.name for path in i18n.LOCALES.iterdir()) == sorted(set(i18n.LANGUAGES) - {"en"})


@pytest.mark.parametrize("language", ["fr", "es"])
def test_french_and_spanish_say_everything(language: str) -> None:
    strings = catalogue(language)
    missing = sorted(str(message) for message in every_message() if not translated(strings.get(message)))
    assert missing == []


@pytest.mark.parametrize("language", ["ar", "zh", "ru"])
def test_arabic_chinese_and_russian_say_the_pledgers_path(language: str) -> None:
    strings = catalogue(language)
    missing = sorted(str(message) for message in pledger_path() if not translated(strings.get(message)))
    assert missing == []


@pytest.mark.parametrize("language", sorted(set(i18n.LANGUAGES) - {"en"}))
def test_a_translation_keeps_the_facts_of_its_message(language: str) -> None:
    for message, string in catalogue(language).items():
        if not translated(string):
            continue
        expected = set(PLACEHOLDER.findall(message[-1] if isinstance(message, tuple) else str(message)))
        for form in string if isinstance(string, tuple) else (string,):
            assert set(PLACEHOLDER.findall(str(form))) <= expected, (message, form)
            if not isinstance(message, tuple):
                assert set(PLACEHOLDER.findall(str(form))) == expected, (message, form)


def test_a_message_without_a_translation_reads_in_english() -> None:
    assert i18n.gettext("ar", "Pledges in review") == "Pledges in review"  # not on the pledger's path
    assert i18n.gettext("ar", "Submit the pledge") == "قدّم التعهد"
    assert i18n.gettext("de", "Submit the pledge") == "Submit the pledge"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("fr-CA,fr;q=0.9,en;q=0.8", "fr"),
        ("de-DE, es;q=0.7, en;q=0.3", "es"),
        ("ar-EG", "ar"),
        ("zh-Hans-CN", "zh"),
        ("en;q=0.2, ru;q=0.9", "ru"),
        ("de, it", None),
        ("fr;q=0", None),
        ("", None),
    ],
)
def test_the_browsers_language_is_the_best_one_pledgeflow_speaks(header: str, language: str | None) -> None:
    assert i18n.from_accept_language(header) == language


def test_dates_numbers_and_amounts_follow_the_language() -> None:
    import datetime as dt

    day = dt.date(2027, 3, 14)
    assert [i18n.day(day, code) for code in ("en", "fr", "es", "ru")] == [
        "14 March 2027",
        "14 mars 2027",
        "14 de marzo de 2027",
        "14 марта 2027\u202fг.",
    ]
    assert i18n.usd(1_200_000, "en") == "USD 1,200,000"
    assert i18n.usd(1_200_000, "fr") == "USD 1\u202f200\u202f000"
    assert i18n.number(86_000, "es") == "86.000"
    assert i18n.direction("ar") == "rtl" and i18n.direction("fr") == "ltr"
    assert i18n.country_names("fr")["DEU"] == "Allemagne" and i18n.country_names("ar")["KEN"] == "كينيا"


def test_every_code_the_pages_show_has_a_word_of_its_own() -> None:
    """A code without an entry would be shown as its own capitalised name, which no catalogue translates."""
    from api.pages.labels import WORDS
    from pledgeflow.registry.public import PublicStatus
    from workflows.state import ClosureReason, PledgeStatus
    from workflows.submission import (
        FundingSource,
        GeographicScope,
        Implementation,
        InKind,
        OrganizationType,
        PledgeType,
        Progress,
    )

    kinds = (PledgeStatus, ClosureReason, PublicStatus, OrganizationType, PledgeType, GeographicScope,
             FundingSource, InKind, Implementation, Progress)  # fmt: skip
    assert sorted({code.value for kind in kinds for code in kind} - set(WORDS)) == []
