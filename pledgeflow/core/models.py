"""The registry: a projection of the pledge workflows for lists, search and public pages.

Written only by activities (and staff-account commands); the API reads it. Every time is stored in UTC
and read back timezone-aware in UTC, on SQLite as on PostgreSQL (:class:`UTCDateTime`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Computed, DateTime, Dialect, Index, TypeDecorator, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import AutoString, Field, SQLModel


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware datetime, stored in UTC and always read back aware in UTC.

    SQLite has no time zones: it keeps the wall-clock text and hands it back naive, so a time is
    converted to UTC before it is written; PostgreSQL answers in the session's zone, so a time read is
    converted to UTC too. A naive datetime is refused: which zone it meant cannot be known.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} given for a UTC column; pass an aware one")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        # Only SQLite answers naive, with the UTC that was written.
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _utc(**kwargs: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kwargs))


# JSONB on PostgreSQL: stored parsed, so reading one key does not reparse the whole submission.
SubmissionJSON = JSON().with_variant(JSONB(), "postgresql")


# What the statistics read of a pledge row (pledgeflow/registry/stats.py): the filters' columns and the counted ones.
STATS_COLUMNS = (
    "status",
    "published_at",
    "closure_reason",
    "geographic_scope",
    "organization_type",
    "pledge_type",
    "time_frame",
    "reported_last_due",
    "cycle",
    "financial_usd",
)


class Pledge(SQLModel, table=True):
    """One row per pledge: the public fields searched and listed, plus the full submission as JSON.

    ``ix_pledge_facets`` covers every column the statistics count, so they are read from the index
    without touching the wide rows (on SQLite the submission sits in overflow pages). On SQLite,
    ``ix_pledge_by_id`` holds the same columns led by the id: filtered statistics start from the pledges an
    SDG or a country names, and look each one up there rather than in its wide row (PostgreSQL joins
    those well without it, and with it would walk it for the unfiltered counts instead of
    ``ix_pledge_facets``, at twice the time). ``ix_pledge_amounts`` gives the pledged amounts above zero,
    in order, for the median and the outlier fence.
    """

    __table_args__ = (
        Index(
            "ix_pledge_facets",
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
        ),
        Index("ix_pledge_by_id", "id", *STATS_COLUMNS).ddl_if(dialect="sqlite"),
        Index("ix_pledge_amounts", "financial_usd", "published_at", "status"),
        # A status, an organisation type or a scope, then the listing's order: a filtered page is walked
        # in order and stops at its last row, instead of reading and sorting every pledge the filter names.
        Index("ix_pledge_status_sorted", "status", "published_at", "id"),
        Index("ix_pledge_organization_type_sorted", "organization_type", "published_at", "id"),
        Index("ix_pledge_geographic_scope_sorted", "geographic_scope", "published_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=16)
    title: str = Field(max_length=200)
    status: str = Field(max_length=32)
    closure_reason: str | None = Field(default=None, max_length=32)
    closure_note: str | None = None
    pledge_type: str = Field(max_length=32)
    organization_name: str = Field(index=True, max_length=200)
    organization_type: str = Field(max_length=32)
    organization_country: str = Field(max_length=3)
    geographic_scope: str = Field(max_length=16)
    financial_usd: float = 0
    start_date: dt.date
    end_date: dt.date | None = None
    open_ended: bool = False
    submission: dict[str, Any] = Field(sa_column=Column(SubmissionJSON, nullable=False))
    # up_to_1y | 1_to_3y | 3_to_5y | over_5y | open_ended, from the dates (pledgeflow.registry.facets)
    time_frame: str = Field(max_length=16)
    # It has a report for its last due cycle (the current one, or the one before while report_due).
    reported_last_due: bool = False
    submission_version: int = 1
    submitted_at: dt.datetime = _utc(nullable=False)
    review_started_at: dt.datetime = _utc(nullable=False)  # the current (or last) review round: submission or revision
    published_at: dt.datetime | None = _utc(nullable=True, index=True)
    next_deadline: dt.datetime | None = _utc(nullable=True)
    next_step: str | None = Field(default=None, max_length=300)
    cycle: int = 0
    missed_cycles: int = 0
    last_report_at: dt.datetime | None = _utc(nullable=True)
    # Bumping it revokes every token issued for the pledge: `pledgeflow ops revoke-tokens` does.
    token_version: int = 1
    # The number of the projection whose values the row has (workflows/projection.py): an older one is not
    # written over it. None: written before projections were numbered.
    projection_number: int | None = None
    updated_at: dt.datetime = _utc(nullable=False)
    # What the exports emit for it, written with the row once it is public (pledgeflow/registry/records.py).
    public_json: str | None = None
    public_csv: str | None = None


class PledgeSDG(SQLModel, table=True):
    """Search index: one row per (pledge, SDG), with the listing's sort key (published_at, pledge_id)."""

    __table_args__ = (Index("ix_pledgesdg_sorted", "sdg", "published_at", "pledge_id"),)

    pledge_id: str = Field(foreign_key="pledge.id", primary_key=True, max_length=16)
    sdg: int = Field(primary_key=True)
    published_at: dt.datetime | None = _utc(nullable=True)


class PledgeCountry(SQLModel, table=True):
    """Search index: one row per (pledge, country), with the listing's sort key."""

    __table_args__ = (Index("ix_pledgecountry_sorted", "country", "published_at", "pledge_id"),)

    pledge_id: str = Field(foreign_key="pledge.id", primary_key=True, max_length=16)
    country: str = Field(primary_key=True, max_length=3)
    published_at: dt.datetime | None = _utc(nullable=True)


class PledgeRegion(SQLModel, table=True):
    """Search index: one row per (pledge, region named in the submission), with the listing's sort key."""

    # ``ix_pledgeregion_pledge``: on SQLite the pledges that name a region are counted along it without a
    # sort (statistics); PostgreSQL's count(DISTINCT) sorts whatever the index, so it has none.
    __table_args__ = (
        Index("ix_pledgeregion_sorted", "region", "published_at", "pledge_id"),
        Index("ix_pledgeregion_pledge", "pledge_id", "published_at").ddl_if(dialect="sqlite"),
    )

    pledge_id: str = Field(foreign_key="pledge.id", primary_key=True, max_length=16)
    region: str = Field(primary_key=True, max_length=200)
    published_at: dt.datetime | None = _utc(nullable=True)


FOLDED = "lower(document)"  # PledgeDocument.folded, as the database computes it


class PledgeDocument(SQLModel, table=True):
    """The text searched by ``q``: title, organisation, description, partners and deliverables, one per line.

    Indexed for substring matching: on PostgreSQL by trigrams with GIN (``pg_trgm``) on ``folded``, the
    text lowered by the database as it is written, so a match lowers no row; on SQLite by the FTS5 table
    ``pledgedocument_fts`` (trigram tokenizer, external content), kept by triggers, and ``folded`` is never
    read (migration 0010 makes it virtual there). Like the SDG, country and region rows it carries the
    listing's sort key: on PostgreSQL a text-only page walks ``ix_pledgedocument_sorted`` in the
    listing's order and stops at its last row (pledgeflow/registry/search.py).
    """

    __table_args__ = (
        Index(
            "ix_pledgedocument_folded_trgm",
            "folded",
            postgresql_using="gin",
            postgresql_ops={"folded": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        Index("ix_pledgedocument_sorted", "published_at", "pledge_id").ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: str = Field(foreign_key="pledge.id", unique=True, max_length=16)
    document: str
    # Written by the database: stored on PostgreSQL, where its trigram index reads it.
    folded: str | None = Field(default=None, sa_column=Column(AutoString(), Computed(FOLDED, persisted=True)))
    published_at: dt.datetime | None = _utc(nullable=True)


class TimelineEntry(SQLModel, table=True):
    """A transition of the pledge, as the workflow recorded it; ``seq`` makes writes idempotent."""

    __table_args__ = (UniqueConstraint("pledge_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: str = Field(foreign_key="pledge.id", index=True, max_length=16)
    seq: int
    at: dt.datetime = _utc(nullable=False)
    actor: str = Field(max_length=120)
    kind: str = Field(max_length=64)
    message: str
    status: str = Field(max_length=32)
    public: bool = True


class Report(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("pledge_id", "cycle", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    pledge_id: str = Field(foreign_key="pledge.id", index=True, max_length=16)
    cycle: int
    received_at: dt.datetime = _utc(nullable=False)
    source: str = Field(max_length=16)
    final: bool = False
    progress: str = Field(max_length=32)
    narrative: str
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class StatsCount(SQLModel, table=True):
    """Published pledges per value of each thing the unfiltered statistics count (``kind``: status, scope,
    organisation type... and SDG, country, region for the index rows), kept by triggers
    (pledgeflow/registry/kept_counts.py): /stats reads these hundred rows, not every pledge."""

    __tablename__ = "stats_count"

    kind: str = Field(primary_key=True, max_length=32)
    key: str = Field(primary_key=True, max_length=200)
    pledges: int = 0


class SentEmail(SQLModel, table=True):
    """The send ledger: a business key (pledge, cycle, kind, recipient) is sent at most once.

    ``state``: ``claimed`` is committed just before the message's DATA, so a retry that finds it knows an
    earlier attempt may have delivered (activities/email.py decides with ``claimed_at``); ``sending``
    means tried and not delivered (4xx, connection lost before DATA), so a retry sends; ``unconfirmed``
    means the server's answer to DATA never came, so it is never sent again by itself, only by an operator.
    """

    business_key: str = Field(primary_key=True, max_length=400)
    pledge_id: str = Field(index=True, max_length=16)
    cycle: int
    kind: str = Field(max_length=64)
    recipient: str = Field(max_length=320)
    message_id: str = Field(index=True, max_length=255)  # a bounce to its VERP return path finds it by this
    state: str = Field(max_length=16)  # sending | claimed | sent | unconfirmed | failed | skipped
    attempts: int = 0
    last_error: str | None = None
    created_at: dt.datetime = _utc(nullable=False)
    sent_at: dt.datetime | None = _utc(nullable=True)
    claimed_at: dt.datetime | None = _utc(nullable=True)
    resent_at: dt.datetime | None = _utc(nullable=True)  # `pledgeflow ops resend-failed` asked for it again


class EmailSuppression(SQLModel, table=True):
    """A contact flagged do-not-email (bounce or complaint): mail to it is skipped, never sent.

    send_email reads it; the inbound receiver writes it for a hard bounce, an abuse complaint or a run of
    soft bounces (pledgeflow/inbound/bounces.py); ``pledgeflow ops suppressions lift`` removes it.
    """

    email: str = Field(primary_key=True, max_length=320)
    reason: str = Field(max_length=64)
    created_at: dt.datetime = _utc(nullable=False)


class EmailBounce(SQLModel, table=True):
    """A bounce or complaint about one message we sent (the send ledger's Message-ID), kept for operators."""

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(index=True, max_length=255)  # ours, from the VERP return path or the quoted headers
    inbound_message_id: str = Field(max_length=255)  # the bounce itself (InboundMessage)
    pledge_id: str | None = Field(default=None, index=True, max_length=16)
    recipient: str = Field(index=True, max_length=320)
    kind: str = Field(max_length=16)  # hard | soft | complaint
    status: str = Field(max_length=64)  # the DSN status (5.1.1) or "complaint: abuse"
    action: str = Field(max_length=32)
    detail: str | None = None
    received_at: dt.datetime = _utc(nullable=False)


class InboundMessage(SQLModel, table=True):
    """Every reply received, kept raw; the Message-ID deduplicates redeliveries."""

    message_id: str = Field(primary_key=True, max_length=255)
    pledge_id: str | None = Field(default=None, index=True, max_length=16)
    sender: str = Field(max_length=320)
    outcome: str = Field(max_length=32)  # accepted | auto_reply | bounce | unreadable | ...
    raw: bytes
    received_at: dt.datetime = _utc(nullable=False)


class StaffAccount(SQLModel, table=True):
    __table_args__ = (Index("ix_staffaccount_key_prefix", "key_prefix"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    role: str = Field(max_length=16)  # vetter | operator | admin
    key_prefix: str = Field(max_length=16)
    key_hash: str = Field(max_length=255)
    active: bool = True
    created_at: dt.datetime = _utc(nullable=False)


class StaffSession(SQLModel, table=True):
    """A staff member's browser session, server-side: the cookie holds a random id, the table its hash.

    It ends at logout, after ``PLEDGEFLOW_STAFF_SESSION_IDLE_MINUTES`` without a request, after
    ``PLEDGEFLOW_STAFF_SESSION_HOURS`` whatever happens, and when the account is deactivated or its key
    rotated (``key_prefix`` no longer the account's). Its CSRF secret binds the staff forms to it.
    """

    id_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = Field(foreign_key="staffaccount.id", index=True)
    key_prefix: str = Field(max_length=16)
    csrf_secret: str = Field(max_length=64)
    created_at: dt.datetime = _utc(nullable=False)
    last_seen_at: dt.datetime = _utc(nullable=False)
    ended_at: dt.datetime | None = _utc(nullable=True)


class RateLimitCounter(SQLModel, table=True):
    """A fixed-window counter of the ``limits`` library (pledgeflow.auth.rate_limits), shared by every API
    process: one row per limit and client (an address, a focal point's email), reset when its window ends."""

    key: str = Field(primary_key=True, max_length=255)
    count: int = 0
    expires_at: dt.datetime = _utc(nullable=False, index=True)
