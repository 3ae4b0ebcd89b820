"""The registry's unfiltered statistics kept as counts, by the database itself, as the projection writes.

At 100,000 pledges one GROUP BY over ``ix_pledge_facets`` alone takes most of the 200 ms /stats may take
(docs/benchmark.md), so the counts the unfiltered statistics show are kept in one small table,
``stats_count``: published pledges per value of each thing the statistics break them down by (``kind``:
status, closure reason, scope, organisation type, pledge type, time frame, and the flags ``considered`` for
reporting compliance, ``with_report`` among those and ``names_region``), and index rows of published
pledges per SDG, country and region. A hundred rows or so, whatever the registry's size: one per value,
not per combination (a table per combination had 17,000 rows at 100,000 pledges and took 117 ms to read).

Triggers on ``pledge`` and the three index tables keep it, in the statement that changes a row, from the
row's old and new values: no writer can make it drift, whether the projection (one pledge, or the bulk
seeding), a migration, or two overlapping attempts of one activity (the database orders their writes; on
SQLite one writer at a time, on PostgreSQL each count row is locked while it changes). A count falls to
zero rather than away; readers skip zeros.

On PostgreSQL two projections changing counts in opposite orders deadlock (one pledge moving from status A
to B while another moves from B to A: ``tests/registry/test_kept_counts.py`` saw it), so every projection
first takes one transaction-level advisory lock (:func:`serialize_writers`): projections are a few
milliseconds each and come a few per second, so queueing them costs nothing a person sees.

The figures with filters, and the amounts (sums, medians, the outlier fence: exact, so never kept), are
computed per request (pledgeflow/registry/stats.py). A registry built without migrations (the ``--as-of``
snapshot, pledgeflow/registry/as_of.py) counts once with :func:`rebuild`.
"""

# ruff: noqa: S608 -- every table name, column and expression put into SQL here is a constant of this module
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from sqlalchemy import Connection, text
from sqlmodel import Session

from pledgeflow.core.models import StatsCount
from workflows.state import PledgeStatus

TABLE = StatsCount.__tablename__

_CLOSED = PledgeStatus.closed.value
_REPORT_DUE = PledgeStatus.report_due.value
# Reporting compliance counts open pledges asked for at least one report (stats.COMPLIANCE_RULE): the cycle
# their latest report was due for (facets.last_due_cycle) is at least 1.
_CONSIDERED = (
    f"{{row}}.status <> '{_CLOSED}' AND "
    f"(CASE WHEN {{row}}.status = '{_REPORT_DUE}' THEN {{row}}.cycle - 1 ELSE {{row}}.cycle END) >= 1"
)
# Whether the submission names a region: "unspecified" counts the pledges that do not (a pledge has no
# region index row exactly when its submission's list is empty).
_NAMES_REGION = {
    "sqlite": "coalesce(json_array_length({row}.submission, '$.regions'), 0) > 0",
    "postgresql": "coalesce(jsonb_array_length({row}.submission -> 'regions'), 0) > 0",
}
NONE = ""  # the key of a pledge with no closure reason


def _flag(condition: str) -> str:
    return f"CASE WHEN {condition} THEN '1' ELSE '0' END"


def facets(dialect: str) -> dict[str, str]:
    """Each kind counted per pledge, with its key as an SQL expression over a pledge row ``{row}``."""
    return {
        "status": "{row}.status",
        "closure_reason": f"coalesce({{row}}.closure_reason, '{NONE}')",
        "geographic_scope": "{row}.geographic_scope",
        "organization_type": "{row}.organization_type",
        "pledge_type": "{row}.pledge_type",
        "time_frame": "{row}.time_frame",
        "considered": _flag(_CONSIDERED),
        "with_report": _flag(f"{_CONSIDERED} AND {{row}}.reported_last_due"),
        "names_region": _flag(_NAMES_REGION[dialect]),
    }


@dataclass(frozen=True)
class IndexTable:
    table: str
    kind: str
    column: str

    @property
    def key(self) -> str:
        return f"CAST({{row}}.{self.column} AS TEXT)"


INDEX_TABLES = (
    IndexTable("pledgesdg", "sdg", "sdg"),
    IndexTable("pledgecountry", "country", "country"),
    IndexTable("pledgeregion", "region", "region"),
)


def _counted(dialect: str) -> list[tuple[str, dict[str, str]]]:
    """Each watched table with the kinds its rows are counted under and their keys."""
    counted = [("pledge", facets(dialect))]
    return counted + [(index.table, {index.kind: index.key}) for index in INDEX_TABLES]


def _add(kind: str, key: str, when: str) -> str:
    return (
        f"INSERT INTO {TABLE} (kind, key, pledges) SELECT '{kind}', {key.format(row='NEW')}, 1 WHERE {when} "
        f"ON CONFLICT (kind, key) DO UPDATE SET pledges = {TABLE}.pledges + 1"
    )


def _take_off(kind: str, key: str, when: str) -> str:
    return (
        f"UPDATE {TABLE} SET pledges = pledges - 1 WHERE {when} AND kind = '{kind}' AND key = {key.format(row='OLD')}"
    )


def _on_update(kinds: dict[str, str], dialect: str) -> list[str]:
    """A row that changed: each kind whose key changed (or that came into or out of the count) moves."""
    differ = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    published = f"(OLD.published_at IS NULL) {differ} (NEW.published_at IS NULL)"
    statements = []
    for kind, key in kinds.items():
        moved = f"({published} OR ({key.format(row='OLD')}) {differ} ({key.format(row='NEW')}))"
        statements.append(_take_off(kind, key, f"OLD.published_at IS NOT NULL AND {moved}"))
        statements.append(_add(kind, key, f"NEW.published_at IS NOT NULL AND {moved}"))
    return statements


def _trigger_name(watched: str) -> str:
    return f"{TABLE}_{watched}"


def create_triggers(dialect: str) -> list[str]:
    """The DDL of the triggers that keep the counts (SQLite triggers; PostgreSQL PL/pgSQL functions)."""
    statements = []
    for watched, kinds in _counted(dialect):
        inserted = [_add(kind, key, "NEW.published_at IS NOT NULL") for kind, key in kinds.items()]
        deleted = [_take_off(kind, key, "OLD.published_at IS NOT NULL") for kind, key in kinds.items()]
        updated = _on_update(kinds, dialect)
        name = _trigger_name(watched)
        if dialect == "sqlite":
            for op, body in (("insert", inserted), ("delete", deleted), ("update", updated)):
                steps = " ".join(f"{statement};" for statement in body)
                statements.append(f"CREATE TRIGGER {name}_{op} AFTER {op.upper()} ON {watched} BEGIN {steps} END")
            continue

        def block(body: list[str]) -> str:
            return "\n".join(f"        {statement};" for statement in body)

        statements += [
            f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
{block(inserted)}
    ELSIF TG_OP = 'DELETE' THEN
{block(deleted)}
    ELSE
{block(updated)}
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
    for watched, _ in _counted(dialect):
        name = _trigger_name(watched)
        if dialect == "sqlite":
            statements += [f"DROP TRIGGER IF EXISTS {name}_{op}" for op in ("insert", "delete", "update")]
        else:
            statements += [f"DROP TRIGGER IF EXISTS {name} ON {watched}", f"DROP FUNCTION IF EXISTS {name}()"]
    return statements


def rebuild(connection: Connection) -> None:
    """Count everything again from the rows: for a registry filled without the triggers, or a migration."""
    statements = [f"DELETE FROM {TABLE}"]
    for watched, kinds in _counted(connection.dialect.name):
        for kind, key in kinds.items():
            value = key.format(row=watched)
            statements.append(
                f"INSERT INTO {TABLE} (kind, key, pledges) SELECT '{kind}' AS kind, {value} AS key, count(*) "
                f"FROM {watched} WHERE {watched}.published_at IS NOT NULL GROUP BY {value}"
            )
    for statement in statements:
        connection.execute(text(statement))


def read(session: Session) -> dict[str, Counter[str]]:
    """Every kind's counts, as the triggers keep them (zeros left out; a kind with none reads as empty)."""
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    rows = session.connection().execute(text(f"SELECT kind, key, pledges FROM {TABLE} WHERE pledges > 0"))
    for kind, key, number in rows:
        counts[kind][key] = number
    return counts


# Any constant: the one lock every projection takes on PostgreSQL (see the module's docstring).
_WRITERS_LOCK = 0x706C6564  # "pled"


def serialize_writers(session: Session) -> None:
    """Queue this transaction behind any other projection's, before it reads what it will change.

    On PostgreSQL, the advisory lock. On SQLite, the database's one write lock, taken by a write that
    changes nothing: its first write would take it anyway, but a read before that sees the registry as it is
    then, so two attempts of one projection at once (the SDK can run a local activity twice) both read the
    pledge as absent and the second's insert failed "UNIQUE constraint failed: pledge.id"."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _WRITERS_LOCK})
    else:
        session.execute(text(f"UPDATE {TABLE} SET pledges = pledges WHERE 0"))
