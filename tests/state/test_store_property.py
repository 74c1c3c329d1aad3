"""Random sequences of xref writes leave the SQL store exactly where they leave the in-memory store."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerbridge.core.records import System
from ledgerbridge.core.store import StateStore, Xref
from ledgerbridge.engine.memory_store import MemoryStateStore
from ledgerbridge.state import open_state_store

LINKS = ("accounts", "contacts")
SF_IDS = ("001A", "001B", "001a", "001C")
NS_IDS = ("10", "11", "12", "9")

put = st.tuples(st.just("put"), st.sampled_from(LINKS), st.sampled_from(SF_IDS), st.sampled_from(NS_IDS),
                st.integers(-3, 3))
# Deletes name a pair that exists (chosen by index when applied), or one that exists on neither side.
unlink = st.tuples(st.just("del"), st.sampled_from(LINKS), st.integers(0, 7))
absent = st.tuples(st.just("absent"), st.sampled_from(LINKS))
ops = st.lists(st.one_of(put, put, unlink, absent), max_size=25)


async def _state(store: StateStore) -> object:
    out = {}
    for link in LINKS:
        out[link] = (
            await store.list_xrefs(link), await store.count_xrefs(link),
            {i: await store.get_xref(link, System.SALESFORCE, i) for i in SF_IDS},
            {i: await store.get_xref(link, System.NETSUITE, i) for i in NS_IDS},
        )
    return out


async def _replay(sequence: list[tuple[object, ...]]) -> None:
    memory = MemoryStateStore()
    sql = await open_state_store("sqlite://")
    try:
        for op in sequence:
            stores: tuple[StateStore, ...] = (memory, sql)
            if op[0] == "put":
                _, link, sf_id, ns_id, v = op
                assert isinstance(v, int)
                for s in stores:
                    await s.put_xref(Xref(str(link), str(sf_id), str(ns_id), sf_baseline={"v": v}))
            elif op[0] == "del":
                _, link, k = op
                pairs = await memory.list_xrefs(str(link))
                if pairs:
                    target = pairs[int(str(k)) % len(pairs)]
                    for s in stores:
                        await s.delete_xref(target.link, target.sf_id, target.ns_id)
            else:
                for s in stores:
                    await s.delete_xref(str(op[1]), "001NONE", "NONE")
        assert await _state(sql) == await _state(memory)
    finally:
        await sql.aclose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_xref_writes_leave_sql_and_memory_stores_identical(sequence: list[tuple[object, ...]]) -> None:
    asyncio.run(_replay(sequence))
