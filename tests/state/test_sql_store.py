"""Behaviour of the SQL store beyond the port: opening, closing and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerbridge.core.errors import ConfigError, StateStoreError
from ledgerbridge.core.records import System
from ledgerbridge.core.store import StateStore, Xref
from ledgerbridge.state import SqlStateStore, open_state_store
from ledgerbridge.state.db import create_engine, parse_state_url

pytestmark = pytest.mark.anyio


async def test_open_state_store_returns_a_store_usable_as_a_context_manager(tmp_path: Path) -> None:
    async with await open_state_store(f"sqlite:///{tmp_path}/s.db") as store:
        assert isinstance(store, SqlStateStore)
        assert isinstance(store, StateStore)
        await store.put_xref(Xref("accounts", "001A", "10"))
    # Closing only drops the pool; a later call reconnects.
    assert await store.get_xref("accounts", System.NETSUITE, "10") is not None
    await store.aclose()


async def test_in_memory_sqlite_store_keeps_state_for_its_lifetime_only() -> None:
    first = await open_state_store("sqlite://")
    second = await open_state_store("sqlite:///:memory:")
    try:
        await first.put_xref(Xref("accounts", "001A", "10"))
        assert await first.count_xrefs("accounts") == 1
        assert await second.count_xrefs("accounts") == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_unreachable_postgres_is_a_state_store_error_without_the_password() -> None:
    with pytest.raises(StateStoreError) as info:
        await open_state_store("postgresql://lb:s3cret@127.0.0.1:1/nowhere")
    assert "s3cret" not in str(info.value)
    assert info.value.kind.is_retryable


async def test_bad_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite:///path or postgresql://"):
        await open_state_store("mysql://u@h/db")


async def test_url_property_hides_the_password() -> None:
    state_url = parse_state_url("postgresql://lb:s3cret@db.example:5432/ledger?schema=lb")
    store = SqlStateStore(create_engine(state_url), state_url)  # no connection is made here
    try:
        assert store.url == "postgresql+asyncpg://lb:***@db.example:5432/ledger (schema lb)"
    finally:
        await store.aclose()
