"""registry search and statistics from indexes: search text, region index, sort keys, facets, JSONB

Builds for existing pledges what the projection now writes (pledgeflow/registry/facets.py):

- ``pledgedocument``: the text ``q`` searches, indexed by trigrams (GIN with ``pg_trgm`` on PostgreSQL;
  an FTS5 trigram table ``pledgedocument_fts`` kept by triggers on SQLite);
- ``pledgeregion``: the regions of each submission as index rows, like SDGs and countries;
- the listing's sort key (``published_at``) on the SDG, country and region index rows;
- ``pledge.time_frame`` and ``pledge.reported_last_due``, and ``ix_pledge_facets`` covering what the
  statistics count;
- the submission as JSONB on PostgreSQL;
- ``pledge.public_json`` and ``pledge.public_csv``, what the exports emit for each public pledge
  (pledgeflow/registry/records.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 18:50:00.000000
"""

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

from pledgeflow.core.models import Pledge, UTCDateTime
from pledgeflow.registry.records import public_records

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 1000
FACETS = [
    "status",
    "closure_reason",
    "geographic_scope",
    "organization_type",
    "pledge_type",
    "time_frame",
    "reported_last_due",
    "cycle",
    "published_at",
    "financial_usd",
    "id",
]
SQLITE_FTS = [
    "CREATE VIRTUAL TABLE pledgedocument_fts USING fts5("
    "document, content='pledgedocument', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER pledgedocument_fts_insert AFTER INSERT ON pledgedocument BEGIN "
    "INSERT INTO pledgedocument_fts(rowid, document) VALUES (new.id, new.document); END",
    "CREATE TRIGGER pledgedocument_fts_delete AFTER DELETE ON pledgedocument BEGIN "
    "INSERT INTO pledgedocument_fts(pledgedocument_fts, rowid, document) VALUES ('delete', old.id, old.document); END",
    "CREATE TRIGGER pledgedocument_fts_update AFTER UPDATE ON pledgedocument BEGIN "
    "INSERT INTO pledgedocument_fts(pledgedocument_fts, rowid, document) VALUES ('delete', old.id, old.document); "
    "INSERT INTO pledgedocument_fts(rowid, document) VALUES (new.id, new.document); END",
]

pledge = sa.table(
    "pledge",
    sa.column("id", sa.String),
    sa.column("submission", sa.JSON),
    sa.column("published_at", sa.DateTime(timezone=True)),
    sa.column("start_date", sa.Date),
    sa.column("end_date", sa.Date),
    sa.column("open_ended", sa.Boolean),
    sa.column("time_frame", sa.String),
    sa.column("status", sa.String),
    sa.column("cycle", sa.Integer),
    sa.column("reported_last_due", sa.Boolean),
)
# What the public shape reads of a row; times aware in UTC, as the model reads them.
shown = sa.table(
    "pledge",
    *(sa.column(name, sa.String) for name in ("id", "title", "status", "closure_reason", "closure_note")),
    *(sa.column(name, sa.String) for name in ("pledge_type", "organization_name", "organization_type")),
    *(sa.column(name, sa.String) for name in ("organization_country", "geographic_scope")),
    sa.column("financial_usd", sa.Float),
    sa.column("start_date", sa.Date),
    sa.column("end_date", sa.Date),
    sa.column("open_ended", sa.Boolean),
    sa.column("submission", sa.JSON),
    *(sa.column(name, UTCDateTime()) for name in ("published_at", "last_report_at", "next_deadline")),
    sa.column("cycle", sa.Integer),
    sa.column("missed_cycles", sa.Integer),
    sa.column("public_json", sa.String),
    sa.column("public_csv", sa.String),
)
report = sa.table(
    "report", sa.column("id", sa.Integer), sa.column("pledge_id", sa.String), sa.column("cycle", sa.Integer)
)
region = sa.table(
    "pledgeregion",
    sa.column("pledge_id", sa.String),
    sa.column("region", sa.String),
    sa.column("published_at", sa.DateTime(timezone=True)),
)
document = sa.table("pledgedocument", sa.column("pledge_id", sa.String), sa.column("document", sa.String))


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _time_frame(start: dt.date, end: dt.date | None, open_ended: bool) -> str:
    """As pledgeflow.registry.facets.time_frame said it when this migration was written."""
    if open_ended or end is None:
        return "open_ended"
    for years, frame in ((1, "up_to_1y"), (3, "1_to_3y"), (5, "3_to_5y")):
        if end <= _add_years(start, years):
            return frame
    return "over_5y"


def _document(submission: dict[str, Any]) -> str:
    """As pledgeflow.registry.facets.document said it when this migration was written."""
    parts = [submission["title"], submission["organization"]["name"], submission["description"]]
    parts += [partner["name"] for partner in submission.get("partners", [])]
    parts += [deliverable["title"] for deliverable in submission.get("deliverables", [])]
    return "\n".join(parts)


def _sorted_index_rows(table: str, key: str) -> None:
    with op.batch_alter_table(table) as batch_op:
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(f"ix_{table}_{key}")
        batch_op.create_index(f"ix_{table}_sorted", [key, "published_at", "pledge_id"], unique=False)
    published = "SELECT pledge.published_at FROM pledge WHERE pledge.id = {0}.pledge_id"
    op.execute(f"UPDATE {table} SET published_at = ({published.format(table)})")  # noqa: S608 (two fixed names)


def _backfill(connection: sa.Connection) -> None:
    """Time frame, regions and search text of every existing pledge, a batch at a time."""
    last = ""
    while True:
        query = (
            sa.select(pledge.c.id, pledge.c.submission, pledge.c.published_at, pledge.c.start_date,
                      pledge.c.end_date, pledge.c.open_ended)
            .where(pledge.c.id > last)
            .order_by(pledge.c.id)
            .limit(BATCH)
        )  # fmt: skip
        rows = connection.execute(query).all()
        if not rows:
            return
        regions, documents = [], []
        for pledge_id, submission, published_at, start, end, open_ended in rows:
            if isinstance(submission, str):
                submission = json.loads(submission)
            frame = _time_frame(start, end, open_ended)
            connection.execute(pledge.update().where(pledge.c.id == pledge_id).values(time_frame=frame))
            regions += [
                {"pledge_id": pledge_id, "region": name, "published_at": published_at}
                for name in sorted(set(submission.get("regions", [])))
            ]
            documents.append({"pledge_id": pledge_id, "document": _document(submission)})
        if regions:
            connection.execute(region.insert(), regions)
        connection.execute(document.insert(), documents)
        last = rows[-1][0]


def _export_records(connection: sa.Connection) -> None:
    """The export records of every public pledge, a batch at a time.

    Built by the projection's own code rather than a copy frozen here: a record is what the exports emit
    today, and a later change to that shape must write the records again in its own migration.
    """
    readable = [column for column in shown.c if column.name not in ("public_json", "public_csv")]
    write = (
        shown.update()
        .where(shown.c.id == sa.bindparam("key"))
        .values(public_json=sa.bindparam("record"), public_csv=sa.bindparam("line"))
    )
    last = ""
    while True:
        query = (
            sa.select(*readable)
            .where(shown.c.id > last, shown.c.published_at.is_not(None))
            .order_by(shown.c.id)
            .limit(BATCH)
        )
        rows = connection.execute(query).mappings().all()
        if not rows:
            return
        records = []
        for values in rows:
            row = Pledge(**values)
            if isinstance(row.submission, str):
                row.submission = json.loads(row.submission)
            record, line = public_records(row)
            records.append({"key": row.id, "record": record, "line": line})
        connection.execute(write, records)
        last = rows[-1]["id"]


def upgrade() -> None:
    connection = op.get_bind()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.alter_column(
            "pledge",
            "submission",
            type_=postgresql.JSONB(),
            postgresql_using="submission::jsonb",
            existing_nullable=False,
        )

    with op.batch_alter_table("pledge") as batch_op:
        batch_op.add_column(sa.Column("time_frame", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column("reported_last_due", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("public_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("public_csv", sqlmodel.sql.sqltypes.AutoString(), nullable=True))

    _sorted_index_rows("pledgesdg", "sdg")
    _sorted_index_rows("pledgecountry", "country")
    op.create_table(
        "pledgeregion",
        sa.Column("pledge_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"]),
        sa.PrimaryKeyConstraint("pledge_id", "region"),
    )
    op.create_index("ix_pledgeregion_sorted", "pledgeregion", ["region", "published_at", "pledge_id"], unique=False)
    op.create_table(
        "pledgedocument",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("document", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.ForeignKeyConstraint(["pledge_id"], ["pledge.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pledge_id"),
    )
    if not postgres:
        for statement in SQLITE_FTS:
            op.execute(statement)

    _backfill(connection)
    _export_records(connection)
    last_due = sa.case((pledge.c.status == "report_due", pledge.c.cycle - 1), else_=pledge.c.cycle)
    reported = sa.exists(sa.select(report.c.id).where(report.c.pledge_id == pledge.c.id, report.c.cycle == last_due))
    op.execute(pledge.update().values(reported_last_due=reported))

    with op.batch_alter_table("pledge") as batch_op:
        batch_op.alter_column("time_frame", existing_type=sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False)
        batch_op.alter_column("reported_last_due", existing_type=sa.Boolean(), server_default=None)
        batch_op.create_index("ix_pledge_facets", FACETS, unique=False)
    if postgres:
        op.create_index(
            "ix_pledgedocument_trgm",
            "pledgedocument",
            ["document"],
            unique=False,
            postgresql_using="gin",
            postgresql_ops={"document": "gin_trgm_ops"},
        )
        op.execute("ANALYZE")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.drop_index("ix_pledgedocument_trgm", table_name="pledgedocument")
    else:
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER pledgedocument_fts_{name}")
        op.execute("DROP TABLE pledgedocument_fts")
    op.drop_table("pledgedocument")
    op.drop_index("ix_pledgeregion_sorted", table_name="pledgeregion")
    op.drop_table("pledgeregion")
    for table, key in (("pledgecountry", "country"), ("pledgesdg", "sdg")):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f"ix_{table}_sorted")
            batch_op.create_index(f"ix_{table}_{key}", [key], unique=False)
            batch_op.drop_column("published_at")
    with op.batch_alter_table("pledge") as batch_op:
        batch_op.drop_index("ix_pledge_facets")
        batch_op.drop_column("public_csv")
        batch_op.drop_column("public_json")
        batch_op.drop_column("reported_last_due")
        batch_op.drop_column("time_frame")
    if postgres:
        op.alter_column(
            "pledge", "submission", type_=sa.JSON(), postgresql_using="submission::json", existing_nullable=False
        )
