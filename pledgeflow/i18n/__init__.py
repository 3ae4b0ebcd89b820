"""The languages Pledgeflow speaks: gettext catalogues (Babel) and dates and numbers per locale (CLDR).

Pages and emails go through the same catalogues, ``pledgeflow/i18n/locales/<lang>/LC_MESSAGES/messages.po``.
The ``.po`` files are the only source: each is compiled in memory on first use, so no binary ``.mo`` is kept
in the repository and a catalogue can never be older than its source. English is the source language; a
message with no translation (or an unknown language) reads in English.

``pybabel extract -F pledgeflow/i18n/babel.cfg`` collects the messages of the templates and the Python code
(tests/i18n/test_catalogues.py fails when a catalogue lacks one it must have).
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"
# Each language in its own name, as the language switch shows it.
LANGUAGES: dict[str, str] = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ar": "العربية",
    "zh": "中文",
    "ru": "Русский",
}
RIGHT_TO_LEFT = frozenset({"ar"})
# CLDR locale for dates and numbers: English as the UN writes it (14 March 2027), not the US form.
_CLDR = {"en": "en_GB"}


def supported(code: str | None) -> str | None:
    """``fr-CA`` or ``fr_FR`` → ``fr``; None when Pledgeflow does not speak it."""
    if not code:
        return None
    base = code.replace("_", "-").split("-", 1)[0].strip().lower()
    return base if base in LANGUAGES else None


def from_accept_language(header: str | None) -> str | None:
    """The best language of an ``Accept-Language`` header that Pledgeflow speaks (RFC 9110 §12.5.4)."""
    if not header:
        return None
    weighted: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        language = supported(tag)
        if language and quality > 0:
            weighted.append((-quality, position, language))
    return min(weighted)[2] if weighted else None


def direction(language: str) -> str:
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"


@cache
def translations(language: str) -> NullTranslations:
    """The catalogue of ``language``, compiled from its ``.po`` file once per process."""
    source = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if language == DEFAULT or not source.exists():
        return NullTranslations()
    with source.open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Translations(compiled)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, count: int) -> str:
    return translations(language).ngettext(singular, plural, count)


@cache
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(_CLDR.get(language, language))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)


def day(value: dt.date | dt.datetime | str, language: str, form: str = "long") -> str:
    """A date as people of ``language`` write it (``14 March 2027``, ``14 mars 2027``, ``2027年3月14日``)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    return dates.format_date(value, format=form, locale=_locale(language))


def moment(value: dt.datetime, language: str) -> str:
    """A time in UTC, dated per locale: ``14 Mar 2027, 09:30 UTC``."""
    utc = value.astimezone(dt.UTC)
    return f"{dates.format_date(utc.date(), format='medium', locale=_locale(language))}, {utc:%H:%M} UTC"


def number(value: float | int, language: str) -> str:
    return numbers.format_decimal(value, format="#,##0", locale=_locale(language))


def usd(value: float | int, language: str) -> str:
    """A pledged amount, whole dollars: ``USD 1,200,000``, ``1 200 000 USD``."""
    return numbers.format_currency(value, "USD", format="¤¤ #,##0", locale=_locale(language), currency_digits=False)


def percent(value: float, language: str) -> str:
    return numbers.format_percent(value, format="#,##0.#%", locale=_locale(language))


def sort_key(text: str, language: str) -> str:
    """Alphabetical order good enough for a list of names: accents folded (Égypte with the E's)."""
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))


def country_names(language: str) -> dict[str, str]:
    """ISO 3166-1 alpha-3 → the country's name in ``language`` (CLDR via Babel), for every ISO country."""
    return _country_names(language)


@cache
def _country_names(language: str) -> dict[str, str]:
    import pycountry

    territories = _locale(language).territories
    names: dict[str, str] = {}
    for country in pycountry.countries:
        names[country.alpha_3] = territories.get(country.alpha_2, getattr(country, "common_name", country.name))
    return names


def N_(message: str) -> str:
    """Marks an English message for the catalogues where it is defined; it is translated where shown."""
    return message
