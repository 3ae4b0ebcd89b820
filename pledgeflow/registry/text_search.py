"""The registry's text search ``q``: a case-insensitive substring of a pledge's searched text (its title,
organisation, description, partners or deliverables; pledgeflow/registry/facets.py), answered from an index.

PostgreSQL matches ``ILIKE '%q%'`` on ``pledgedocument.document`` through its GIN trigram index
(``pg_trgm``). SQLite matches the text as one FTS5 phrase in ``pledgedocument_fts`` (trigram tokenizer,
so a phrase is a substring); a phrase needs three characters, so a shorter ``q`` falls back to LIKE over
the searched text (correct, but a scan). Either way, wildcard characters in ``q`` are matched literally.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, column, exists, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement as _Element
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import col

from pledgeflow.core.models import Pledge, PledgeDocument

FTS_TABLE = "pledgedocument_fts"
TRIGRAM = 3  # the shortest text a trigram index can look up
_fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))


class TextMatch(_Element[bool]):
    """``q`` matches the pledge's searched text; compiled for the database it runs on."""

    inherit_cache = False
    _traverse_internals = [("q", InternalTraversal.dp_string)]

    def __init__(self, q: str) -> None:
        self.q = q


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _on_document(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(col(PledgeDocument.id)).where(col(PledgeDocument.pledge_id) == col(Pledge.id), condition))


def _postgresql(match: TextMatch) -> ColumnElement[bool]:
    return _on_document(col(PledgeDocument.document).ilike(_like_pattern(match.q), escape="\\"))


def _sqlite(match: TextMatch) -> ColumnElement[bool]:
    if len(match.q) < TRIGRAM:
        return _on_document(col(PledgeDocument.document).ilike(_like_pattern(match.q), escape="\\"))
    phrase = '"' + match.q.replace('"', '""') + '"'
    rows = select(_fts.c.rowid).where(_fts.c[FTS_TABLE].match(phrase))
    documents = select(col(PledgeDocument.pledge_id)).where(col(PledgeDocument.id).in_(rows))
    return col(Pledge.id).in_(documents)


@compiles(TextMatch, "postgresql")
def _compile_postgresql(element: TextMatch, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(_postgresql(element), **kw))


@compiles(TextMatch)
def _compile_sqlite(element: TextMatch, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(_sqlite(element), **kw))


def text_match(q: str) -> ColumnElement[bool]:
    return TextMatch(q)
