"""Concurrency against the NetSuite sandbox over loopback sockets: throttling honoured, lanes kept.

Real parallel connections are needed here, so the sandbox runs under uvicorn in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from netsuite_sandbox_kit import VirtualClock, customer, over_socket
from starlette.applications import Starlette

from ledgerbridge.core.records import Priority, Write
from ledgerbridge_sandbox.netsuite.app import create_app
from ledgerbridge_sandbox.netsuite.config import NetSuiteSandboxConfig
from ledgerbridge_sandbox.serve import ServerThread

pytestmark = pytest.mark.anyio


@pytest.fixture
def served() -> Iterator[tuple[Starlette, str]]:
    app = create_app(NetSuiteSandboxConfig(concurrency_limit=3, latency_write_ms=(15.0, 15.0),
                                           latency_read_ms=(5.0, 5.0)), seed="empty")
    with ServerThread(app) as server:
        yield app, server.url


async def test_a_share_above_the_real_pool_adapts_and_every_write_lands(
        served: tuple[Starlette, str], clock: VirtualClock) -> None:
    app, url = served
    rig = over_socket(app, url, share=6, clock=clock)
    try:
        writes = [Write(customer(i), external_id=f"cc-{i}") for i in range(60)]
        results = await rig.connector.upsert("customer", writes, key_field="externalId")
        assert all(r.ok for r in results), [r.error for r in results if not r.ok][:2]
        log = await rig.log()
        assert log["max_in_flight"] <= 3
        assert 0 < log["rejected"] < 30  # throttled, and the governor backed off instead of hammering
        budget = await rig.connector.budget()
        assert budget.throttled == log["rejected"]
        assert budget.concurrency_limit is not None and budget.concurrency_limit <= 3
        assert clock.sleeps  # throttled calls waited (on the injected clock) before going again
    finally:
        await rig.aclose()


async def test_slots_held_by_another_client_are_left_alone(
        served: tuple[Starlette, str], clock: VirtualClock) -> None:
    app, url = served
    rig = over_socket(app, url, share=3, clock=clock)
    try:
        await rig.admin.post("/__sandbox__/occupy", json={"slots": 1})
        writes = [Write(customer(i), external_id=f"oc-{i}") for i in range(40)]
        results = await rig.connector.upsert("customer", writes, key_field="externalId")
        assert all(r.ok for r in results)
        assert rig.governor.limit <= 2
        assert (await rig.log())["rejected"] <= 8
    finally:
        await rig.admin.delete("/__sandbox__/occupy")
        await rig.aclose()


async def test_interactive_calls_overtake_a_running_backfill(
        served: tuple[Starlette, str], clock: VirtualClock) -> None:
    app, url = served
    rig = over_socket(app, url, share=2, clock=clock)
    try:
        ids = [r.id for r in await rig.connector.upsert(
            "customer", [Write(customer(0), external_id="lane-0")], key_field="externalId")]
        finished: list[str] = []

        async def backfill() -> None:
            writes = [Write(customer(i), external_id=f"bf-{i}") for i in range(40)]
            await rig.connector.upsert("customer", writes, key_field="externalId", priority=Priority.BACKFILL)
            finished.append("backfill")

        async def interactive() -> None:
            while rig.governor.stats().waiting[Priority.BACKFILL] == 0:
                await asyncio.sleep(0.001)
            records = await rig.connector.read_by_ids("customer", [i for i in ids if i])
            assert len(records) == 1
            finished.append("interactive")

        await asyncio.gather(backfill(), interactive())
        assert finished == ["interactive", "backfill"]
    finally:
        await rig.aclose()
