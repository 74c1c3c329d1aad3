"""Initial state store schema: xrefs, watermarks, runs, audit, dead letters, reviews, conflicts,
one-shot markers and record leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

The column types are spelled out here instead of imported from ``tables.py``: a migration is a
record of what the schema was at that revision and must not change when the models do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeEngine

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key() -> TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def _json() -> TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _seq() -> sa.Column[int]:
    return sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                     nullable=False)


def upgrade() -> None:
    """Create every table of the state store."""
    op.create_table(
        "lb_xrefs",
        sa.Column("link", _key(), nullable=False),
        sa.Column("sf_id", _key(), nullable=False),
        sa.Column("ns_id", _key(), nullable=False),
        sa.Column("sf_baseline", _json(), nullable=False),
        sa.Column("ns_baseline", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=True),
        sa.Column("sf_modified_at", _ts(), nullable=True),
        sa.Column("ns_modified_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("link", "sf_id", name=op.f("pk_lb_xrefs")),
        sa.UniqueConstraint("link", "ns_id", name=op.f("uq_lb_xrefs_link_ns_id")),
    )
    op.create_table(
        "lb_watermarks",
        sa.Column("link", _key(), nullable=False),
        sa.Column("system", _key(), nullable=False),
        sa.Column("feed", _key(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("last_id", _key(), nullable=False),
        sa.PrimaryKeyConstraint("link", "system", "feed", name=op.f("pk_lb_watermarks")),
    )
    op.create_table(
        "lb_runs",
        _seq(),
        sa.Column("id", _key(), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("kind", _key(), nullable=False),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("status", _key(), nullable=False),
        sa.Column("links", _json(), nullable=False),
        sa.Column("counts", _json(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_lb_runs")),
        sa.UniqueConstraint("id", name=op.f("uq_lb_runs_id")),
    )
    op.create_index(op.f("ix_lb_runs_started_at"), "lb_runs", ["started_at"])
    op.create_table(
        "lb_run_links",
        sa.Column("run_id", _key(), nullable=False),
        sa.Column("link", _key(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["lb_runs.id"], name=op.f("fk_lb_run_links_run_id_lb_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "link", name=op.f("pk_lb_run_links")),
    )
    op.create_index(op.f("ix_lb_run_links_link"), "lb_run_links", ["link"])
    op.create_table(
        "lb_audit_events",
        _seq(),
        sa.Column("id", _key(), nullable=False),
        sa.Column("at", _ts(), nullable=False),
        sa.Column("link", _key(), nullable=False),
        sa.Column("action", _key(), nullable=False),
        sa.Column("system", _key(), nullable=True),
        sa.Column("sf_id", _key(), nullable=True),
        sa.Column("ns_id", _key(), nullable=True),
        sa.Column("run_id", _key(), nullable=True),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("before", _json(), nullable=False),
        sa.Column("after", _json(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_lb_audit_events")),
    )
    for column in ("link", "sf_id", "ns_id", "run_id"):
        op.create_index(op.f(f"ix_lb_audit_events_{column}"), "lb_audit_events", [column])
    op.create_table(
        "lb_dead_letters",
        _seq(),
        sa.Column("id", _key(), nullable=False),
        sa.Column("link", _key(), nullable=False),
        sa.Column("system", _key(), nullable=False),
        sa.Column("source_id", _key(), nullable=False),
        sa.Column("step", _key(), nullable=False),
        sa.Column("error_code", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("error_kind", _key(), nullable=False),
        sa.Column("target_system", _key(), nullable=True),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", _key(), nullable=False),
        sa.Column("run_id", _key(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_lb_dead_letters")),
        sa.UniqueConstraint("id", name=op.f("uq_lb_dead_letters_id")),
    )
    op.create_index(op.f("ix_lb_dead_letters_link_system_source_id"), "lb_dead_letters",
                    ["link", "system", "source_id"])
    op.create_index(op.f("ix_lb_dead_letters_status_updated_at"), "lb_dead_letters",
                    ["status", "updated_at"])
    op.create_table(
        "lb_match_reviews",
        _seq(),
        sa.Column("id", _key(), nullable=False),
        sa.Column("link", _key(), nullable=False),
        sa.Column("system", _key(), nullable=False),
        sa.Column("record_id", _key(), nullable=False),
        sa.Column("candidates", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("status", _key(), nullable=False),
        sa.Column("resolved_at", _ts(), nullable=True),
        sa.Column("chosen_id", _key(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_lb_match_reviews")),
        sa.UniqueConstraint("id", name=op.f("uq_lb_match_reviews_id")),
    )
    op.create_index(op.f("ix_lb_match_reviews_link_system_record_id"), "lb_match_reviews",
                    ["link", "system", "record_id"])
    op.create_index(op.f("ix_lb_match_reviews_status_created_at"), "lb_match_reviews",
                    ["status", "created_at"])
    op.create_table(
        "lb_conflicts",
        _seq(),
        sa.Column("id", _key(), nullable=False),
        sa.Column("link", _key(), nullable=False),
        sa.Column("sf_id", _key(), nullable=False),
        sa.Column("ns_id", _key(), nullable=False),
        sa.Column("field", _key(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("base_sf", _json(), nullable=True),
        sa.Column("base_ns", _json(), nullable=True),
        sa.Column("sf_value", _json(), nullable=True),
        sa.Column("ns_value", _json(), nullable=True),
        sa.Column("status", _key(), nullable=False),
        sa.Column("resolution", _key(), nullable=True),
        sa.Column("resolved_value", _json(), nullable=True),
        sa.Column("resolved_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_lb_conflicts")),
        sa.UniqueConstraint("id", name=op.f("uq_lb_conflicts_id")),
    )
    op.create_index(op.f("ix_lb_conflicts_link_sf_id"), "lb_conflicts", ["link", "sf_id"])
    op.create_index(op.f("ix_lb_conflicts_link_ns_id"), "lb_conflicts", ["link", "ns_id"])
    op.create_index(op.f("ix_lb_conflicts_status_created_at"), "lb_conflicts", ["status", "created_at"])
    op.create_table(
        "lb_once_markers",
        sa.Column("key", _key(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_lb_once_markers")),
    )
    op.create_table(
        "lb_record_leases",
        sa.Column("key", _key(), nullable=False),
        sa.Column("owner", _key(), nullable=False),
        sa.Column("expires_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_lb_record_leases")),
    )


def downgrade() -> None:
    """Drop every table of the state store (indexes go with their tables)."""
    for table in ("lb_record_leases", "lb_once_markers", "lb_conflicts", "lb_match_reviews",
                  "lb_dead_letters", "lb_audit_events", "lb_run_links", "lb_runs", "lb_watermarks",
                  "lb_xrefs"):
        op.drop_table(table)
