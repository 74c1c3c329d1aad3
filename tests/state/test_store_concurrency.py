"""Several engines and processes writing one state database: no lost update, no "database is locked".

Each writer does a read-modify-write of an xref baseline counter inside ``store.transaction()``.
Without ``BEGIN IMMEDIATE`` on SQLite, or the row locks of reads inside a transaction on
PostgreSQL, increments are silently lost (shared/reference/python-stack.md §9 measured 181/300).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ledgerbridge.core.records import System
from ledgerbridge.core.store import DeadLetter, Step, Xref
from ledgerbridge.state import SqlStateStore, open_state_store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 3, 1, tzinfo=UTC)
Pair = tuple[SqlStateStore, SqlStateStore]


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state.db"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
async def two_stores(url: str) -> AsyncIterator[Pair]:
    first = await open_state_store(url)
    second = await open_state_store(url)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


async def _increment(store: SqlStateStore, times: int) -> None:
    for _ in range(times):
        async with store.transaction():
            current = await store.get_xref("accounts", System.SALESFORCE, "001A")
            assert current is not None
            await asyncio.sleep(0)  # give every other writer the chance to interleave
            n = current.sf_baseline["n"]
            assert isinstance(n, int)
            await store.put_xref(replace(current, sf_baseline={"n": n + 1}))


async def _counter(store: SqlStateStore) -> object:
    xref = await store.get_xref("accounts", System.NETSUITE, "10")
    assert xref is not None
    return xref.sf_baseline["n"]


async def test_two_engines_doing_read_modify_write_lose_no_update(
        two_stores: Pair) -> None:
    first, second = two_stores
    await first.put_xref(Xref("accounts", "001A", "10", sf_baseline={"n": 0}))
    await asyncio.gather(*(_increment(store, 15) for store in (first, second, first, second)))
    assert await _counter(first) == 60
    assert await _counter(second) == 60


async def test_dead_letter_attempts_counted_by_two_engines_lose_no_retry(
        two_stores: Pair) -> None:
    first, second = two_stores
    await first.put_dead_letter(DeadLetter("dl1", "accounts", System.SALESFORCE, "001A", Step.WRITE,
                                           "UNABLE_TO_LOCK_ROW", "locked", T0, T0, attempts=0))

    async def retry(store: SqlStateStore) -> None:
        for _ in range(10):
            async with store.transaction():
                letter = await store.get_dead_letter("dl1")
                assert letter is not None
                await asyncio.sleep(0)
                await store.put_dead_letter(replace(letter, attempts=letter.attempts + 1))

    await asyncio.gather(retry(first), retry(second), retry(first))
    letter = await second.get_dead_letter("dl1")
    assert letter is not None and letter.attempts == 30


async def test_mark_once_has_one_winner_across_engines(two_stores: Pair) -> None:
    first, second = two_stores
    results = await asyncio.gather(*(s.mark_once("invoice:welcome:42") for s in (first, second) * 8))
    assert results.count(True) == 1


async def test_record_lease_has_one_holder_across_engines(two_stores: Pair) -> None:
    first, second = two_stores
    results = await asyncio.gather(*(
        store.try_lock_record("accounts:001A", f"worker-{i}", now=T0, ttl_s=60)
        for i, store in enumerate((first, second) * 6)))
    assert results.count(True) == 1


async def test_same_pair_linked_by_two_engines_at_once_ends_with_one_consistent_row(
        two_stores: Pair) -> None:
    first, second = two_stores
    await asyncio.gather(*(
        store.put_xref(Xref("accounts", sf_id, "10", sf_baseline={"by": i}))
        for i, (store, sf_id) in enumerate([(first, "001A"), (second, "001B"), (first, "001C"),
                                            (second, "001A"), (first, "001B"), (second, "001C")])))
    pairs = await first.list_xrefs("accounts")
    assert len(pairs) == 1
    assert await second.get_xref("accounts", System.NETSUITE, "10") == pairs[0]


WORKER = r"""
import asyncio, json, sys
from dataclasses import replace
from datetime import UTC, datetime
from ledgerbridge.core.errors import StateStoreError
from ledgerbridge.core.records import System
from ledgerbridge.state import open_state_store

async def main(url, name, times):
    store = await open_state_store(url)
    errors = []
    print("ready", flush=True)
    sys.stdin.readline()  # start together: the test releases every worker at once
    won_once = await store.mark_once("one-shot")
    got_lease = await store.try_lock_record("lease", name, now=datetime(2026, 1, 1, tzinfo=UTC), ttl_s=600)
    for _ in range(times):
        try:
            async with store.transaction():
                x = await store.get_xref("accounts", System.SALESFORCE, "001A")
                await store.put_xref(replace(x, sf_baseline={"n": x.sf_baseline["n"] + 1}))
        except StateStoreError as exc:
            errors.append(str(exc))
    await store.aclose()
    print(json.dumps({"once": won_once, "lease": got_lease, "errors": errors}), flush=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_two_processes_writing_one_database_lose_no_update_and_never_see_locked(url: str) -> None:
    times = 100
    async with await open_state_store(url) as store:
        await store.put_xref(Xref("accounts", "001A", "10", sf_baseline={"n": 0}))
    procs = [await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, url, f"p{i}", str(times),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for i in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outputs = [await asyncio.wait_for(proc.communicate(), 60) for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert [r["errors"] for r in results] == [[], []]
    assert sorted(r["once"] for r in results) == [False, True]
    assert sorted(r["lease"] for r in results) == [False, True]
    async with await open_state_store(url) as store:
        assert await _counter(store) == 2 * times
