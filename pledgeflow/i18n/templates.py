"""Jinja2 environments that speak the catalogues: the pages' and the emails' alike.

Each render names its language in the context (``lang``); ``_()``, ``{% trans %}`` and ``ngettext`` read it
there, so one environment serves every language at once. Messages are new-style: ``_('Dear %(name)s,',
name=recipient_name)``, with the facts escaped where the template autoescapes.
"""

from __future__ import annotations

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from pledgeflow import i18n

EXTENSION = "jinja2.ext.i18n"


@pass_context
def _gettext(context: Context, message: str) -> str:
    return i18n.gettext(context["lang"], message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return i18n.ngettext(context["lang"], singular, plural, count)


def speak_catalogues(environment: Environment) -> None:
    """Install the catalogues' callables; the environment must have been made with :data:`EXTENSION`."""
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
