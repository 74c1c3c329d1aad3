from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledgerbridge.core.records import System, Watermark
from ledgerbridge.core.store import StateStore, Xref
from ledgerbridge.engine.memory_store import MemoryStateStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_memory_store_implements_the_port():
    assert isinstance(MemoryStateStore(), StateStore)


@pytest.mark.anyio
async def test_transaction_that_raises_leaves_no_trace():
    store = MemoryStateStore()
    await store.put_xref(Xref("accounts", "001A", "10"))
    with pytest.raises(RuntimeError):
        async with store.transaction():
            await store.put_xref(Xref("accounts", "001B", "11"))
            await store.set_watermark("accounts", System.SALESFORCE, "changes", Watermark(T0))
            assert await store.get_xref("accounts", System.NETSUITE, "11") is not None
            raise RuntimeError("crash")
    assert await store.get_xref("accounts", System.SALESFORCE, "001B") is None
    assert await store.get_watermark("accounts", System.SALESFORCE, "changes") is None
    assert await store.count_xrefs("accounts") == 1


@pytest.mark.anyio
async def test_put_xref_replaces_by_either_side():
    store = MemoryStateStore()
    await store.put_xref(Xref("accounts", "001A", "10"))
    await store.put_xref(Xref("accounts", "001W", "10"))  # relink after a merge
    assert await store.get_xref("accounts", System.SALESFORCE, "001A") is None
    assert (await store.get_xref("accounts", System.NETSUITE, "10")).sf_id == "001W"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_mark_once_and_leases():
    store = MemoryStateStore()
    assert await store.mark_once("welcome-invoice:42")
    assert not await store.mark_once("welcome-invoice:42")
    assert await store.try_lock_record("k", "w1", now=T0, ttl_s=30)
    assert not await store.try_lock_record("k", "w2", now=T0 + timedelta(seconds=10), ttl_s=30)
    assert await store.try_lock_record("k", "w2", now=T0 + timedelta(seconds=31), ttl_s=30)
    await store.unlock_record("k", "w2")
    assert await store.try_lock_record("k", "w1", now=T0, ttl_s=30)
