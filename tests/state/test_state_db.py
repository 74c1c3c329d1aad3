"""URL normalisation and the SQLite connection recipe of ``ledgerbridge.state.db``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from ledgerbridge.core.errors import ConfigError
from ledgerbridge.state.db import (
    DEFAULT_STATE_URL,
    READ_ONLY,
    create_engine,
    parse_state_url,
)

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("given", "driver", "database"),
    [
        ("sqlite:///state.db", "sqlite+aiosqlite", "state.db"),
        ("sqlite+aiosqlite:///state.db", "sqlite+aiosqlite", "state.db"),
        ("sqlite:////abs/state.db", "sqlite+aiosqlite", "/abs/state.db"),
        ("./rel/state.db", "sqlite+aiosqlite", "./rel/state.db"),
        ("sqlite://", "sqlite+aiosqlite", None),
        ("sqlite:///:memory:", "sqlite+aiosqlite", ":memory:"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg", "db"),
        ("postgres://u@h/db", "postgresql+asyncpg", "db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg", "db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg", "db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg", "db"),
    ],
)
def test_parse_state_url_normalises_to_async_drivers(given: str, driver: str, database: str | None) -> None:
    parsed = parse_state_url(given)
    assert parsed.url.drivername == driver
    assert parsed.url.database == database
    assert parsed.schema is None


def test_parse_state_url_defaults_to_sqlite_file_under_dot_ledgerbridge() -> None:
    parsed = parse_state_url(None)
    assert DEFAULT_STATE_URL == "sqlite:///.ledgerbridge/state.db"
    assert parsed.sqlite_path == Path(".ledgerbridge/state.db")
    assert not parsed.is_memory


def test_parse_state_url_takes_postgres_schema_from_query() -> None:
    parsed = parse_state_url("postgresql://u:secret@h/db?schema=lb_prod")
    assert parsed.schema == "lb_prod"
    assert "schema" not in parsed.url.query
    assert "secret" not in parsed.render()


@pytest.mark.parametrize(
    "bad",
    [
        "mysql://u@h/db",
        "postgresql+pg8000://u@h/db",
        "postgresql://u@h/db?schema=x;drop",
        "postgresql://u@h/db?schema=a&schema=b",
        "sqlite:///x.db?mode=ro",
    ],
)
def test_parse_state_url_rejects_unsupported_forms_with_config_error(bad: str) -> None:
    with pytest.raises(ConfigError):
        parse_state_url(bad)


async def test_sqlite_file_engine_creates_directory_and_applies_pragmas(tmp_path: Path) -> None:
    engine = create_engine(parse_state_url(f"sqlite:///{tmp_path}/a/b/state.db"))
    try:
        async with engine.connect() as conn:
            pragmas = {name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar()
                       for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")}
    finally:
        await engine.dispose()
    assert (tmp_path / "a" / "b" / "state.db").exists()
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 5000, "synchronous": 1, "foreign_keys": 1}


async def test_sqlite_write_transactions_take_the_write_lock_at_begin(tmp_path: Path) -> None:
    url = parse_state_url(str(tmp_path / "s.db"))
    first, second = create_engine(url), create_engine(url)
    try:
        async with first.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        async with first.begin() as conn:
            # While one writer holds BEGIN IMMEDIATE, a reader still gets a (deferred) snapshot.
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            reader = await second.connect()
            await reader.execution_options(**{READ_ONLY: True})
            async with reader.begin():
                assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar() == 0
            await reader.close()
    finally:
        await first.dispose()
        await second.dispose()


async def test_two_sqlite_engines_doing_read_modify_write_lose_no_update(tmp_path: Path) -> None:
    url = parse_state_url(str(tmp_path / "counter.db"))
    engines = [create_engine(url), create_engine(url)]
    try:
        async with engines[0].begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump(engine_index: int) -> None:
            for _ in range(40):
                async with engines[engine_index].begin() as conn:
                    n = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
                    await asyncio.sleep(0)  # let the other writer try to interleave
                    await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

        await asyncio.gather(*(bump(i % 2) for i in range(4)))
        async with engines[0].connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 160
    finally:
        for engine in engines:
            await engine.dispose()
