"""Alembic migrations of the state store on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from ledgerbridge.core.errors import StateStoreError
from ledgerbridge.state import DEFAULT_STATE_URL, open_state_store
from ledgerbridge.state.db import create_engine, parse_state_url
from ledgerbridge.state.migrate import MIGRATIONS_DIR, current_revision, downgrade, head_revision, upgrade
from ledgerbridge.state.tables import metadata

pytestmark = pytest.mark.anyio

STORE_TABLES = set(metadata.tables)


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return str(request.getfixturevalue("pg_schema_url"))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_head_then_downgrade_base_then_upgrade_again(url: str) -> None:
    state_url = parse_state_url(url)
    engine = create_engine(state_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine, state_url)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= STORE_TABLES

        await downgrade(engine, state_url)
        assert await current_revision(engine) is None
        async with engine.connect() as conn:
            assert not (STORE_TABLES & await conn.run_sync(_tables))

        await upgrade(engine, state_url)
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree_autogenerate_finds_nothing(url: str) -> None:
    state_url = parse_state_url(url)
    engine = create_engine(state_url)
    try:
        await upgrade(engine, state_url)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_stores_opened_together_on_a_fresh_database_migrate_once(url: str) -> None:
    stores = await asyncio.gather(*(open_state_store(url) for _ in range(3)))
    try:
        assert [await current_revision(s.engine) for s in stores] == [head_revision()] * 3
        assert await stores[0].mark_once("k") and not await stores[2].mark_once("k")
    finally:
        for s in stores:
            await s.aclose()


async def test_open_refuses_a_database_written_by_a_newer_version(url: str) -> None:
    store = await open_state_store(url)
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    await store.aclose()
    with pytest.raises(StateStoreError, match="newer LedgerBridge"):
        await open_state_store(url)


async def test_open_without_migrating_leaves_an_empty_database_alone(tmp_path: Path) -> None:
    store = await open_state_store(f"sqlite:///{tmp_path}/s.db", migrate_schema=False)
    try:
        assert await current_revision(store.engine) is None
        with pytest.raises(StateStoreError, match="no such table"):
            await store.count_xrefs("accounts")
    finally:
        await store.aclose()


async def test_default_url_is_a_sqlite_file_under_dot_ledgerbridge_of_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "alembic.ini").exists()
    async with await open_state_store() as store:
        assert await store.mark_once("first")
    assert (tmp_path / ".ledgerbridge" / "state.db").is_file()
    assert DEFAULT_STATE_URL == "sqlite:///.ledgerbridge/state.db"


def test_migration_scripts_ship_inside_the_package() -> None:
    assert MIGRATIONS_DIR.parts[-3:] == ("ledgerbridge", "state", "migrations")
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("0*.py"))[0] == "0001_initial.py"
