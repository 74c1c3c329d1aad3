"""The state store's tables, as SQLAlchemy Core metadata (layer ``state``; imports SQLAlchemy only).

This is the model Alembic compares the migrations with (``tests/state/test_state_migrations.py`` checks
that autogenerate finds nothing to do). A change here needs a new revision in
``migrations/versions``; draft it with ``python -m ledgerbridge.state.migrate revision "..."``.

Conventions that keep SQLite and PostgreSQL behaving the same:

- Keys and ids are unbounded strings (no length limit that only PostgreSQL would enforce) with
  the byte-order ``"C"`` collation on PostgreSQL, so ``ORDER BY`` and ``>`` agree with Python's
  ``str`` ordering and with SQLite's BINARY collation.
- Times are stored in UTC (naive on SQLite, ``timestamptz`` on PostgreSQL) and always come back
  timezone-aware.
- JSON values are ``JSONB`` on PostgreSQL and JSON text on SQLite.
- Tables whose listings are "newest first" carry an insertion ``seq``, the tie-breaker that makes
  equal timestamps list in insertion order, as the in-memory store does.
- Every name starts with ``lb_`` so the store can share a database (and the saq queue's schema).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

__all__ = [
    "AUDIT",
    "CONFLICTS",
    "DEAD_LETTERS",
    "LEASES",
    "MARKERS",
    "REVIEWS",
    "RUNS",
    "RUN_LINKS",
    "WATERMARKS",
    "XREFS",
    "UtcDateTime",
    "metadata",
]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and read back timezone-aware (naive input is taken as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; SQLite gets it without tzinfo so the text sorts chronologically."""
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns; normalise PostgreSQL's session time zone to UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _key() -> TypeEngine[str]:
    return String().with_variant(String(collation="C"), "postgresql")


def _json() -> TypeEngine[Any]:
    return JSON().with_variant(JSONB(), "postgresql")


def _seq() -> Column[int]:
    return Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                  autoincrement=True)


XREFS = Table(
    "lb_xrefs", metadata,
    Column("link", _key(), nullable=False),
    Column("sf_id", _key(), nullable=False),
    Column("ns_id", _key(), nullable=False),
    Column("sf_baseline", _json(), nullable=False),
    Column("ns_baseline", _json(), nullable=False),
    Column("created_at", UtcDateTime()),
    Column("updated_at", UtcDateTime()),
    Column("sf_modified_at", UtcDateTime()),
    Column("ns_modified_at", UtcDateTime()),
    PrimaryKeyConstraint("link", "sf_id"),
    UniqueConstraint("link", "ns_id"),
)

WATERMARKS = Table(
    "lb_watermarks", metadata,
    Column("link", _key(), nullable=False),
    Column("system", _key(), nullable=False),
    Column("feed", _key(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("last_id", _key(), nullable=False),
    PrimaryKeyConstraint("link", "system", "feed"),
)

RUNS = Table(
    "lb_runs", metadata,
    _seq(),
    Column("id", _key(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("kind", _key(), nullable=False),
    Column("finished_at", UtcDateTime()),
    Column("status", _key(), nullable=False),
    Column("links", _json(), nullable=False),
    Column("counts", _json(), nullable=False),
    Column("error", Text()),
    UniqueConstraint("id"),
    Index(None, "started_at"),
)

RUN_LINKS = Table(
    "lb_run_links", metadata,
    Column("run_id", _key(), ForeignKey("lb_runs.id", ondelete="CASCADE"), nullable=False),
    Column("link", _key(), nullable=False),
    PrimaryKeyConstraint("run_id", "link"),
    Index(None, "link"),
)

AUDIT = Table(
    "lb_audit_events", metadata,
    _seq(),
    Column("id", _key(), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("link", _key(), nullable=False),
    Column("action", _key(), nullable=False),
    Column("system", _key()),
    Column("sf_id", _key()),
    Column("ns_id", _key()),
    Column("run_id", _key()),
    Column("fields", _json(), nullable=False),
    Column("before", _json(), nullable=False),
    Column("after", _json(), nullable=False),
    Column("decision", Text(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("rule", Text(), nullable=False),
    Index(None, "link"),
    Index(None, "sf_id"),
    Index(None, "ns_id"),
    Index(None, "run_id"),
)

DEAD_LETTERS = Table(
    "lb_dead_letters", metadata,
    _seq(),
    Column("id", _key(), nullable=False),
    Column("link", _key(), nullable=False),
    Column("system", _key(), nullable=False),
    Column("source_id", _key(), nullable=False),
    Column("step", _key(), nullable=False),
    Column("error_code", Text(), nullable=False),
    Column("error_message", Text(), nullable=False),
    Column("error_kind", _key(), nullable=False),
    Column("target_system", _key()),
    Column("payload", _json(), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("status", _key(), nullable=False),
    Column("run_id", _key()),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("id"),
    Index(None, "link", "system", "source_id"),
    Index(None, "status", "updated_at"),
)

REVIEWS = Table(
    "lb_match_reviews", metadata,
    _seq(),
    Column("id", _key(), nullable=False),
    Column("link", _key(), nullable=False),
    Column("system", _key(), nullable=False),
    Column("record_id", _key(), nullable=False),
    Column("candidates", _json(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("label", Text(), nullable=False),
    Column("status", _key(), nullable=False),
    Column("resolved_at", UtcDateTime()),
    Column("chosen_id", _key()),
    UniqueConstraint("id"),
    Index(None, "link", "system", "record_id"),
    Index(None, "status", "created_at"),
)

CONFLICTS = Table(
    "lb_conflicts", metadata,
    _seq(),
    Column("id", _key(), nullable=False),
    Column("link", _key(), nullable=False),
    Column("sf_id", _key(), nullable=False),
    Column("ns_id", _key(), nullable=False),
    Column("field", _key(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("base_sf", _json()),
    Column("base_ns", _json()),
    Column("sf_value", _json()),
    Column("ns_value", _json()),
    Column("status", _key(), nullable=False),
    Column("resolution", _key()),
    Column("resolved_value", _json()),
    Column("resolved_at", UtcDateTime()),
    UniqueConstraint("id"),
    Index(None, "link", "sf_id"),
    Index(None, "link", "ns_id"),
    Index(None, "status", "created_at"),
)

MARKERS = Table(
    "lb_once_markers", metadata,
    Column("key", _key(), primary_key=True),
)

LEASES = Table(
    "lb_record_leases", metadata,
    Column("key", _key(), primary_key=True),
    Column("owner", _key(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)
