"""The registry's unfiltered statistics kept as counts, by the database itself, as the projection writes.

At 100,000 pledges one GROUP BY over ``ix_pledge_facets`` alone takes most of the 200 ms /stats may take
(docs/benchmark.md), so the counts the unfiltered statistics show are kept in two small tables:

- ``stats_facet_count``: the published pledges per combination of the per-pledge facets (status, closure
  reason, scope, organisation type, pledge type, time frame) and the three flags the statistics derive
  from a row: ``considered`` for reporting compliance, ``with_report`` among those, ``names_region``;
- ``stats_index_count``: the index rows of published pledges per SDG, country and region.

Triggers on ``pledge`` and the three index tables keep them, in the statement that changes a row, from
the row's old and new values: no writer can make them drift, whether the projection (one pledge, or the
bulk seeding), a migration, or two overlapping attempts of one activity (the database orders their
writes; on SQLite one writer at a time, on PostgreSQL each count row is locked while it changes). A
count row falls to zero rather than away; readers skip zeros.

On PostgreSQL two projections changing counts in opposite orders could deadlock (one pledge moving from
facets A to B while another moves from B to A), so every projection first takes one transaction-level
advisory lock (:func:`serialize_writers`): projections are a few milliseconds each and come a few per
second at most, so queueing them costs nothing a person sees.

The figures with filters, and the amounts (sums, medians, the outlier fence: exact, so never kept), are
computed per request (pledgeflow/registry/stats.py). A registry built without migrations (the ``--as-of``
snapshot, pledgeflow/registry/as_of.py) fills the tables once with :func:`rebuild`.
"""

# ruff: noqa: S608 -- every table name, column and expression put into SQL here is a constant of this module
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlmodel import Session

from workflows.state import PledgeStatus

FACET_TABLE = "stats_facet_count"
INDEX_TABLE = "stats_index_count"

_CLOSED = PledgeStatus.closed.value
_REPORT_DUE = PledgeStatus.report_due.value
# Reporting compliance counts open pledges asked for at least one report (stats.COMPLIANCE_RULE): the cycle
# their latest report was due for (facets.last_due_cycle) is at least 1.
_CONSIDERED = (
    f"{{row}}.status <> '{_CLOSED}' AND "
    f"(CASE WHEN {{row}}.status = '{_REPORT_DUE}' THEN {{row}}.cycle - 1 ELSE {{row}}.cycle END) >= 1"
)
# Whether the submission names a region: what "unspecified" counts without one (the pledge has no region
# index row exactly when its submission's list is empty).
_NAMES_REGION = {
    "sqlite": "coalesce(json_array_length({row}.submission, '$.regions'), 0) > 0",
    "postgresql": "coalesce(jsonb_array_length({row}.submission -> 'regions'), 0) > 0",
}


def facet_key(dialect: str) -> dict[str, str]:
    """The columns of ``stats_facet_count``'s key, each as an SQL expression over a pledge row ``{row}``."""
    return {
        "status": "{row}.status",
        "closure_reason": "coalesce({row}.closure_reason, '')",  # a key column cannot be NULL and still match
        "geographic_scope": "{row}.geographic_scope",
        "organization_type": "{row}.organization_type",
        "pledge_type": "{row}.pledge_type",
        "time_frame": "{row}.time_frame",
        "considered": f"CASE WHEN {_CONSIDERED} THEN 1 ELSE 0 END",
        "with_report": f"CASE WHEN {_CONSIDERED} AND {{row}}.reported_last_due THEN 1 ELSE 0 END",
        "names_region": f"CASE WHEN {_NAMES_REGION[dialect]} THEN 1 ELSE 0 END",
    }


@dataclass(frozen=True)
class IndexTable:
    table: str
    kind: str  # ``stats_index_count.kind``
    column: str


INDEX_TABLES = (
    IndexTable("pledgesdg", "sdg", "sdg"),
    IndexTable("pledgecountry", "country", "country"),
    IndexTable("pledgeregion", "region", "region"),
)


def _values(expressions: dict[str, str], row: str) -> str:
    return ", ".join(expression.format(row=row) for expression in expressions.values())


def _matches(expressions: dict[str, str], row: str) -> str:
    return " AND ".join(f"{column} = {expression.format(row=row)}" for column, expression in expressions.items())


def _upsert(table: str, expressions: dict[str, str], row: str, sign: int, where: str) -> str:
    """Add ``sign`` to the count of ``row``'s key (a row of its own the first time), if ``where``."""
    columns = ", ".join(expressions)
    return (
        f"INSERT INTO {table} ({columns}, pledges) SELECT {_values(expressions, row)}, {sign} WHERE {where} "
        f"ON CONFLICT ({columns}) DO UPDATE SET pledges = {table}.pledges + {sign}"
    )


def _take_off(table: str, expressions: dict[str, str], row: str, where: str) -> str:
    return f"UPDATE {table} SET pledges = pledges - 1 WHERE {where} AND {_matches(expressions, row)}"


def _changed(expressions: dict[str, str], dialect: str) -> str:
    differ = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    tests = [f"({e.format(row='OLD')}) {differ} ({e.format(row='NEW')})" for e in expressions.values()]
    tests.append(f"(OLD.published_at IS NULL) {differ} (NEW.published_at IS NULL)")
    return " OR ".join(tests)


def _index_key(index: IndexTable) -> dict[str, str]:
    return {"kind": f"'{index.kind}'", "key": f"CAST({{row}}.{index.column} AS TEXT)"}


def _tracked(dialect: str) -> list[tuple[str, str, dict[str, str]]]:
    """(watched table, count table, key) for each set of triggers."""
    tracked = [("pledge", FACET_TABLE, facet_key(dialect))]
    tracked += [(index.table, INDEX_TABLE, _index_key(index)) for index in INDEX_TABLES]
    return tracked


def create_triggers(dialect: str) -> list[str]:
    """The DDL of the triggers that keep both tables (SQLite triggers; PostgreSQL PL/pgSQL functions)."""
    statements = []
    for watched, table, key in _tracked(dialect):
        old_published, new_published = "OLD.published_at IS NOT NULL", "NEW.published_at IS NOT NULL"
        add = _upsert(table, key, "NEW", 1, new_published)
        take_off = _take_off(table, key, "OLD", old_published)
        name = f"{table}_{watched}"
        if dialect == "sqlite":
            statements += [
                f"CREATE TRIGGER {name}_insert AFTER INSERT ON {watched} BEGIN {add}; END",
                f"CREATE TRIGGER {name}_delete AFTER DELETE ON {watched} BEGIN {take_off}; END",
                f"CREATE TRIGGER {name}_update AFTER UPDATE ON {watched} WHEN {_changed(key, dialect)} "
                f"BEGIN {take_off}; {add}; END",
            ]
            continue
        statements += [
            f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NOT ({_changed(key, dialect)}) THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        {take_off};
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        {add};
    END IF;
    RETURN NULL;
END
$$""",
            f"CREATE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {watched} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}()",
        ]
    return statements


def drop_triggers(dialect: str) -> list[str]:
    statements = []
    for watched, table, _ in _tracked(dialect):
        name = f"{table}_{watched}"
        if dialect == "sqlite":
            statements += [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("insert", "delete", "update")]
        else:
            statements += [f"DROP TRIGGER IF EXISTS {name} ON {watched}", f"DROP FUNCTION IF EXISTS {name}()"]
    return statements


def rebuild(connection: Connection) -> None:
    """Count everything again from the rows: for a registry filled without the triggers, or a migration."""
    key = facet_key(connection.dialect.name)
    counted = _values(key, "pledge")
    statements = [
        f"DELETE FROM {FACET_TABLE}",
        f"INSERT INTO {FACET_TABLE} ({', '.join(key)}, pledges) SELECT {counted}, count(*) FROM pledge "
        f"WHERE pledge.published_at IS NOT NULL GROUP BY {counted}",
        f"DELETE FROM {INDEX_TABLE}",
    ]
    statements += [
        f"INSERT INTO {INDEX_TABLE} (kind, key, pledges) SELECT {_values(_index_key(index), index.table)}, "
        f"count(*) FROM {index.table} WHERE {index.table}.published_at IS NOT NULL "
        f"GROUP BY {index.table}.{index.column}"
        for index in INDEX_TABLES
    ]
    for statement in statements:
        connection.execute(text(statement))


# Any constant: the one lock every projection takes on PostgreSQL (see the module's docstring).
_WRITERS_LOCK = 0x706C6564  # "pled"


def serialize_writers(session: Session) -> None:
    """Queue this transaction behind any other projection's (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _WRITERS_LOCK})
