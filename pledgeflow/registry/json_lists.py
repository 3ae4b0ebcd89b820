"""The submission's JSON lists (partners, regions) as rows, on SQLite and PostgreSQL alike.

The registry keeps the full submission as JSON; lists that have no index table of their own are
unnested in SQL (``json_each`` on SQLite, ``jsonb_array_elements`` on PostgreSQL, where the submission
is JSONB) so counting and matching them never loads every submission into Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, TableValuedAlias, func
from sqlmodel import Session, col

from pledgeflow.core.models import Pledge


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def string_items(session: Session, key: str) -> TableValuedAlias:
    """One row per string in ``submission[key]`` of the pledge it is joined to, as column ``value``."""
    if _postgres(session):
        return func.jsonb_array_elements_text(col(Pledge.submission)[key]).table_valued("value")
    return func.json_each(col(Pledge.submission), f"$.{key}").table_valued("value")


def object_items(session: Session, key: str) -> TableValuedAlias:
    """One row per object in ``submission[key]``; read its fields with :func:`field_of`."""
    if _postgres(session):
        return func.jsonb_array_elements(col(Pledge.submission)[key]).table_valued("value")
    return func.json_each(col(Pledge.submission), f"$.{key}").table_valued("value")


def field_of(session: Session, items: TableValuedAlias, name: str) -> ColumnElement[Any]:
    """A string field of an element of a list of objects, e.g. a partner's ``name``."""
    if _postgres(session):
        return items.c.value.op("->>")(name)
    return func.json_extract(items.c.value, f"$.{name}")
