"""The registry's text search ``q``: a case-insensitive substring of a pledge's searched text (its title,
organisation, description, partners or deliverables; pledgeflow/registry/facets.py), answered from an index.

PostgreSQL matches ``folded LIKE '%' || lower(q) || '%'``: ``pledgedocument.folded`` is the document as
``lower()`` left it when it was written, indexed by trigrams with GIN (``pg_trgm``), so no document is
lowered at search time, as ``ILIKE`` lowered each one it checked. A page led by the text walks the documents
in the listing's order (pledgeflow/registry/search.py). SQLite matches the text as one FTS5 phrase in
``pledgedocument_fts`` (trigram tokenizer, so a phrase is a substring); a phrase needs three characters, so
a shorter ``q`` falls back to LIKE over the searched text (correct, but a scan). Either way, wildcard
characters in ``q`` are matched literally.

On SQLite a page in the listing's order asks first whether ``q`` is broad (at least ``BROAD_MATCHES``
matches): a rare text is best answered from its matches, a common one by walking the order and keeping
the pledges whose text matches, which finds a page long before it has read every match. That check is
``pledgeflow_contains`` (pledgeflow/core/db.py: ``q`` in the document in any case, as the trigram index
matches it), one document at a time: the index answers only all of its matches at once, and finding
them all was most of a broad search's time (17 ms of 20 at 100,000 pledges). PostgreSQL's planner makes
that choice itself from the column's statistics: it walks ``ix_pledgedocument_sorted`` for a common text,
and starts from the trigram index's matches for a rare one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, column, exists, func, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement as _Element
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Session, col

from pledgeflow.core.models import Pledge, PledgeDocument

FTS_TABLE = "pledgedocument_fts"
TRIGRAM = 3  # the shortest text a trigram index can look up
BROAD_MATCHES = 1000
_fts = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))


class TextMatch(_Element[bool]):
    """``q`` matches the pledge's searched text; compiled for the database it runs on."""

    inherit_cache = False
    _traverse_internals = [("q", InternalTraversal.dp_string), ("broad", InternalTraversal.dp_boolean)]

    def __init__(self, q: str, broad: bool) -> None:
        self.q = q
        self.broad = broad


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _on_document(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists(select(col(PledgeDocument.id)).where(col(PledgeDocument.pledge_id) == col(Pledge.id), condition))


def folded_match(q: str) -> ColumnElement[bool]:
    """PostgreSQL: ``q`` in the document in any case, as ``ix_pledgedocument_folded_trgm`` matches it.

    ``q`` is lowered by the same ``lower()`` that made ``folded``; escaping first is safe, as lowering
    leaves the wildcards and their escape alone."""
    return col(PledgeDocument.folded).like(func.lower(_like_pattern(q)), escape="\\")


def _postgresql(match: TextMatch) -> ColumnElement[bool]:
    return _on_document(folded_match(match.q))


def _sqlite(match: TextMatch) -> ColumnElement[bool]:
    if len(match.q) < TRIGRAM:
        return _on_document(col(PledgeDocument.document).ilike(_like_pattern(match.q), escape="\\"))
    if match.broad:
        # Checked on each document along the order: the page is full long before every match is read,
        # where ``id IN`` the index's matches would have the index find all of them first.
        return _on_document(func.pledgeflow_contains(col(PledgeDocument.document), match.q.lower()))
    rows = _fts_rows(match.q)
    documents = select(col(PledgeDocument.pledge_id)).where(col(PledgeDocument.id).in_(rows))
    return col(Pledge.id).in_(documents)


def _fts_rows(q: str) -> Select[tuple[Any]]:
    phrase = '"' + q.replace('"', '""') + '"'  # one phrase: its quotes and operators are text
    return select(_fts.c.rowid).where(_fts.c[FTS_TABLE].match(phrase))


def is_broad(session: Session, q: str) -> bool:
    """Whether ``q`` matches at least ``BROAD_MATCHES`` pledges (asked of SQLite's index only)."""
    if session.get_bind().dialect.name != "sqlite" or len(q) < TRIGRAM:
        return False
    found = select(func.count()).select_from(_fts_rows(q).limit(BROAD_MATCHES).subquery())
    return int(session.execute(found).scalar_one()) >= BROAD_MATCHES


@compiles(TextMatch, "postgresql")
def _compile_postgresql(element: TextMatch, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(_postgresql(element), **kw))


@compiles(TextMatch)
def _compile_sqlite(element: TextMatch, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(_sqlite(element), **kw))


def text_match(q: str, broad: bool = False) -> ColumnElement[bool]:
    return TextMatch(q, broad)
