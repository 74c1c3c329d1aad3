"""Schema migrations of the state store, run from code (layer ``state``).

The Alembic scripts ship inside the package (``ledgerbridge/state/migrations``) and the Alembic
``Config`` is built here, so no ``alembic.ini`` is needed anywhere. Every migration runs in one
transaction on a connection of the store's own engine: on SQLite that transaction starts with
``BEGIN IMMEDIATE``, on PostgreSQL it first takes a transaction-scoped advisory lock, so processes
or workers that start together migrate one after the other and the late ones find the schema at
head.

For developers, a new revision is drafted from the models in ``tables.py`` with::

    python -m ledgerbridge.state.migrate revision "add foo to bar"
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ledgerbridge.state.db import StateUrl, create_engine, parse_state_url

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

# pg_advisory_xact_lock key of schema migrations: an arbitrary constant, the same in every process.
_PG_MIGRATION_LOCK: Final = 0x1D6B_55A1_C3F0_7E21


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of the state store, built in code.

    Args:
        connection: the connection ``env.py`` should migrate (None for script-only commands).

    Returns:
        A ``Config`` pointing at the packaged migration scripts.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of LedgerBridge.

    Returns:
        The head revision id.
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the state store ships at least one migration"
    return head


_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _migration_lock() -> asyncio.Lock:
    """One migration at a time in this process: Alembic keeps its running context in module-level
    state, which two migrations interleaved on one event loop would overwrite. (Other processes are
    kept apart by the database: SQLite's BEGIN IMMEDIATE, PostgreSQL's advisory lock.)"""
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


async def upgrade(engine: AsyncEngine, state_url: StateUrl, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (creating the PostgreSQL schema when one is named).

    Args:
        engine: an engine from :func:`ledgerbridge.state.db.create_engine`.
        state_url: the URL the engine was built from.
        revision: target revision, ``head`` by default.
    """
    async with _migration_lock(), engine.begin() as conn:
        await conn.run_sync(_migrate, state_url, revision, up=True)


async def downgrade(engine: AsyncEngine, state_url: StateUrl, revision: str = "base") -> None:
    """Take the schema down to ``revision`` (``base`` drops every table of the store).

    Args:
        engine: an engine from :func:`ledgerbridge.state.db.create_engine`.
        state_url: the URL the engine was built from.
        revision: target revision, ``base`` by default.
    """
    async with _migration_lock(), engine.begin() as conn:
        await conn.run_sync(_migrate, state_url, revision, up=False)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at.

    Args:
        engine: an engine from :func:`ledgerbridge.state.db.create_engine`.

    Returns:
        The current revision id, or None when the store was never migrated.
    """
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


def _prepare(sync_conn: Connection, state_url: StateUrl) -> None:
    """Serialise concurrent migrators and create the named schema (PostgreSQL only)."""
    if sync_conn.dialect.name != "postgresql":
        return  # SQLite: the BEGIN IMMEDIATE of this transaction already serialises migrators
    sync_conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    if state_url.schema:
        # The name was checked to be a plain identifier by parse_state_url.
        sync_conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{state_url.schema}"'))


def _migrate(sync_conn: Connection, state_url: StateUrl, revision: str, *, up: bool) -> None:
    _prepare(sync_conn, state_url)
    cfg = alembic_config(sync_conn)
    if up:
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)


def _draft_revision(message: str) -> None:
    """Autogenerate a new revision from ``tables.py`` against a scratch SQLite database."""
    with tempfile.TemporaryDirectory() as tmp:
        state_url = parse_state_url(str(Path(tmp) / "draft.db"))

        async def run() -> None:
            engine = create_engine(state_url)
            try:
                await upgrade(engine, state_url)
                async with engine.begin() as conn:
                    await conn.run_sync(lambda sync: command.revision(
                        alembic_config(sync), message=message, autogenerate=True))
            finally:
                await engine.dispose()

        asyncio.run(run())


if __name__ == "__main__":  # pragma: no cover - developer tool
    if len(sys.argv) != 3 or sys.argv[1] != "revision":
        sys.exit("usage: python -m ledgerbridge.state.migrate revision MESSAGE")
    _draft_revision(sys.argv[2])
